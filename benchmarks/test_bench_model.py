"""Speed of the model: batched kernel throughput, and one configuration through the single-configuration
path (serial kernel, cached packed rows), with its median and p99 per call.

Run: pytest benchmarks --benchmark-json=results.json  (rates and percentiles are in extra_info)."""

import numpy as np

from infersim.kernels import layout as L
from infersim.kernels.step import evaluate_nb, evaluate_rows_nb, new_result_matrix
from infersim.model.configuration import Mapping, Workload, config_row, resolve_precision
from infersim.model.evaluate import evaluate
from infersim.model.packing import packed_architecture, packed_chip


def _percentiles(benchmark):
    data = np.asarray(benchmark.stats.stats.data)
    benchmark.extra_info["median_us"] = float(np.median(data) * 1e6)
    benchmark.extra_info["p99_us"] = float(np.percentile(data, 99) * 1e6)


def test_kernel_throughput(benchmark, grid, machine):
    archs, chips, cfgs = grid
    out = new_result_matrix(len(cfgs))
    evaluate_nb(archs, chips, cfgs[:10], out[:10])  # compile / load from cache outside the timing
    benchmark(evaluate_nb, archs, chips, cfgs, out)
    benchmark.extra_info.update(machine)
    benchmark.extra_info["configs"] = len(cfgs)
    benchmark.extra_info["configs_per_s"] = len(cfgs) / benchmark.stats.stats.mean
    assert np.isfinite(out[:, L.R_MAX_BATCH]).all()


def test_single_configuration_kernel_call(benchmark, lib, machine):
    chip, arch = lib.chip("nvidia-h100-sxm"), lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    a, c = packed_architecture(arch), packed_chip(chip, p.compute_dtype)
    cfg = config_row(0, 0, p, Mapping(tp=4), Workload(1024, 256))[None, :]
    out = new_result_matrix(1)
    evaluate_rows_nb(a, c, cfg, out)
    benchmark.pedantic(evaluate_rows_nb, args=(a, c, cfg, out), rounds=20_000, iterations=1, warmup_rounds=100)
    benchmark.extra_info.update(machine)
    _percentiles(benchmark)
    assert out[0, L.R_FITS] == 1.0


def test_single_configuration_public_api(benchmark, lib, machine):
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256))
    r = benchmark.pedantic(evaluate, args=(chip, arch, p, Mapping(tp=4), Workload(1024, 256)), rounds=20_000,
                           iterations=1, warmup_rounds=100)
    benchmark.extra_info.update(machine)
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.mean * 1e6
    _percentiles(benchmark)
    assert r.fits
