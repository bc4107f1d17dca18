"""Options and argument handling shared by the commands: the spec library, workload, targets,
dtypes and the search of one chip."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InfersimError
from ..specs.library import ENV_VAR, Library

DEFAULT_INPUT_LEN = 1024
DEFAULT_OUTPUT_LEN = 256



def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def library(args: argparse.Namespace) -> Library:
    return Library(user_dirs=[Path(p) for p in (args.specs_dir or [])])


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--specs-dir", action="append", metavar="DIR",
                   help=f"a folder of your own spec files (repeatable; also ${ENV_VAR})")


def add_workload(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="ID", help="model id (see `infersim specs list`) or a config.json path")
    p.add_argument("--weight-dtype", default="bf16", help="bf16, fp16, fp8, int8, fp4 or int4 (default bf16)")
    p.add_argument("--kv-dtype", default=None, help="bf16, fp16, fp8, int8 or fp4 (default: fp8 with fp8/fp4 weights, else bf16)")
    p.add_argument("--compute-dtype", default=None, help="math dtype; default: the weight dtype if the chip has it, "
                                                         "else weight-only quantization in bf16")
    p.add_argument("--traffic", metavar="ID", help="take input/output lengths from a traffic spec")
    p.add_argument("--input-len", type=positive_int, help=f"prompt tokens (default {DEFAULT_INPUT_LEN})")
    p.add_argument("--output-len", type=positive_int, help=f"generated tokens (default {DEFAULT_OUTPUT_LEN})")
    p.add_argument("--batch", type=positive_int, help="sequences per replica (default: the largest that fits)")
    p.add_argument("--num-chips", type=positive_int, help="chips to use (default: the fewest that hold the model)")
    p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                   help="throughput: most tokens/s per chip; latency: lowest TPOT (default throughput)")
    p.add_argument("--max-ttft-ms", type=float, metavar="MS", help="TTFT target (default: the traffic spec's, else none)")
    p.add_argument("--max-tpot-ms", type=float, metavar="MS", help="TPOT target (default: the traffic spec's, else none)")


def workload_of(args: argparse.Namespace, lib: Library):
    from ..model.configuration import Workload

    inp, out = DEFAULT_INPUT_LEN, DEFAULT_OUTPUT_LEN
    if args.traffic:
        t = lib.traffic(args.traffic)
        inp, out = round(t.input.mean_tokens), round(t.output.mean_tokens)
    return Workload(args.input_len or inp, args.output_len or out)


def targets_of(args: argparse.Namespace, lib: Library):
    from ..model.mapping_search import Targets

    ttft = args.max_ttft_ms / 1e3 if args.max_ttft_ms is not None else None
    tpot = args.max_tpot_ms / 1e3 if args.max_tpot_ms is not None else None
    if args.traffic:
        t = lib.traffic(args.traffic)
        ttft = ttft if ttft is not None else t.ttft_target_s
        tpot = tpot if tpot is not None else t.tpot_target_s
    for name, v in (("--max-ttft-ms", ttft), ("--max-tpot-ms", tpot)):
        if v is not None and v <= 0:
            raise InfersimError(f"{name} must be a positive number of milliseconds")
    return Targets(ttft, tpot)


def length_distributions(args: argparse.Namespace, lib: Library, workload):
    """(inputs, outputs): the traffic spec's spread around the workload's means, or fixed lengths."""
    from ..specs.traffic import lengths_around

    return lengths_around(lib.traffic(args.traffic) if args.traffic else None, workload.input_len, workload.output_len)


def kv_dtype_of(args: argparse.Namespace) -> str:
    if args.kv_dtype:
        return args.kv_dtype
    return "fp8" if args.weight_dtype in ("fp8", "fp4") else "bf16"


# ---- commands ------------------------------------------------------------------------------


def search_one(args: argparse.Namespace, lib: Library):
    from ..model.configuration import resolve_precision
    from ..model.mapping_search import search

    chip = lib.chip(args.chip)
    arch = lib.architecture(args.model)
    precision = resolve_precision(chip, args.weight_dtype, kv_dtype_of(args), args.compute_dtype)
    workload = workload_of(args, lib)
    found = search(chip, arch, precision, workload, args.num_chips, args.batch or 0, args.objective,
                   targets_of(args, lib))
    return chip, arch, precision, workload, found.best
