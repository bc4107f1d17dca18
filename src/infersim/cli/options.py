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
    return Library(user_dirs=[Path(p) for p in (getattr(args, "specs_dir", None) or [])])


def chip_list(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


PRICE_BASIS_HELP = ("who pays, and how: owner (chip at its bill of materials + margin where it has one, else market "
                    "price; default), owner:bom, owner:market, or rental:PROVIDER:TERM[@YYYY-MM] (a cloud's price "
                    "per chip-hour; TERM on_demand, 1yr, 3yr, capacity_block or spot; PROVIDER market = the median "
                    "of all providers), e.g. rental:gcp:3yr")


def price_basis_arg(text: str) -> str:
    """argparse type: the basis text, checked (a bad one is a one-line usage error, exit 2)."""
    from ..specs.price_basis import parse_price_basis

    try:
        return parse_price_basis(text).text
    except InfersimError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_price_basis(p: argparse.ArgumentParser) -> None:
    p.add_argument("--price-basis", type=price_basis_arg, default="owner", metavar="BASIS", help=PRICE_BASIS_HELP)


def add_common(p: argparse.ArgumentParser) -> None:
    """--specs-dir, and -v/-q here as well as before the command (`infersim compare -v ...`)."""
    p.add_argument("--specs-dir", action="append", metavar="DIR",
                   help=f"a folder of your own spec files, searched before the bundled ones (repeatable; "
                        f"also ${ENV_VAR})")
    add_verbosity(p, default=argparse.SUPPRESS)


def add_verbosity(p: argparse.ArgumentParser, default=None) -> None:
    p.add_argument("-v", "--verbose", action="count", default=0 if default is None else default,
                   help="say more on stderr (-vv: debugging detail)")
    p.add_argument("-q", "--quiet", action="store_true", default=False if default is None else default,
                   help="only results and errors: no progress, no 'wrote' lines")


def add_chips(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument("--chips", required=required, metavar="ID[,ID...]",
                   help="chip ids, comma-separated (see `infersim specs list --chip`)"
                        + ("" if required else "; default: every chip in the library"))


def add_budget(p: argparse.ArgumentParser, none: bool = True) -> None:
    p.add_argument("--budget", default="central-2025", metavar="ID",
                   help="TCO budget for the cost (default central-2025" + ("; 'none' to skip cost)" if none else ")"))
    add_price_basis(p)


def add_workload(p: argparse.ArgumentParser, *, batch: bool = True, num_chips: bool = True, objective: bool = True,
                 targets: bool = True, compute_dtype: bool = True) -> None:
    """The model and workload options; a command leaves out those it cannot use, so passing one
    is an error ('unrecognized arguments') instead of being ignored."""
    p.add_argument("--model", required=True, metavar="ID|PATH",
                   help="model id (see `infersim specs list --model`), a Hugging Face config.json, or a folder "
                        "holding one")
    p.add_argument("--weight-dtype", default="bf16", help="bf16, fp16, fp8, int8, fp4 or int4 (default bf16)")
    p.add_argument("--kv-dtype", default=None, help="bf16, fp16, fp8, int8 or fp4 (default: fp8 with fp8/fp4 weights, else bf16)")
    if compute_dtype:
        p.add_argument("--compute-dtype", default=None, help="math dtype; default: the weight dtype if the chip has it, "
                                                             "else weight-only quantization in bf16")
    p.add_argument("--traffic", metavar="ID", help="take input/output lengths (and latency targets) from a traffic spec")
    p.add_argument("--input-len", type=positive_int, metavar="TOKENS",
                   help=f"prompt tokens (default: the traffic spec's mean, else {DEFAULT_INPUT_LEN})")
    p.add_argument("--output-len", type=positive_int, metavar="TOKENS",
                   help=f"generated tokens (default: the traffic spec's mean, else {DEFAULT_OUTPUT_LEN})")
    if batch:
        p.add_argument("--batch", type=positive_int, help="sequences per replica (default: the largest that fits "
                                                          "and meets the targets)")
    if num_chips:
        p.add_argument("--num-chips", type=positive_int, help="chips to use (default: the fewest that hold the model "
                                                              "and powers of two above, up to a server or the "
                                                              "scale-up domain)")
    if objective:
        p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                       help="throughput: most tokens/s per chip; latency: lowest TPOT (default throughput)")
    if targets:
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

    max_ttft_ms, max_tpot_ms = getattr(args, "max_ttft_ms", None), getattr(args, "max_tpot_ms", None)
    ttft = max_ttft_ms / 1e3 if max_ttft_ms is not None else None
    tpot = max_tpot_ms / 1e3 if max_tpot_ms is not None else None
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
    found = search(chip, arch, precision, workload, getattr(args, "num_chips", None), getattr(args, "batch", None) or 0,
                   getattr(args, "objective", "throughput"), targets_of(args, lib))
    return chip, arch, precision, workload, found.best
