"""Speed of the model: batched kernel throughput and one configuration through the public API.

Run: pytest benchmarks --benchmark-json=results.json  (configs_per_s is in extra_info)."""

import numpy as np

from infersim.kernels.step import evaluate_nb, new_result_matrix
from infersim.model.configuration import Mapping, Workload, resolve_precision
from infersim.model.evaluate import evaluate


def test_kernel_throughput(benchmark, grid):
    archs, chips, cfgs = grid
    out = new_result_matrix(len(cfgs))
    evaluate_nb(archs, chips, cfgs[:10], out[:10])  # compile / load from cache outside the timing
    benchmark(evaluate_nb, archs, chips, cfgs, out)
    benchmark.extra_info["configs"] = len(cfgs)
    benchmark.extra_info["configs_per_s"] = len(cfgs) / benchmark.stats.stats.mean
    assert np.isfinite(out[:, 13]).all()  # R_MAX_BATCH is set for every row


def test_single_configuration_public_api(benchmark, lib):
    chip = lib.chip("nvidia-h100-sxm")
    arch = lib.architecture("llama-3.1-70b")
    p = resolve_precision(chip, "fp8", "fp8")
    evaluate(chip, arch, p, Mapping(tp=4), Workload(1024, 256))
    r = benchmark(evaluate, chip, arch, p, Mapping(tp=4), Workload(1024, 256))
    benchmark.extra_info["us_per_call"] = benchmark.stats.stats.mean * 1e6
    assert r.fits
