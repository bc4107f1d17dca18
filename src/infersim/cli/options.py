"""Options and argument handling shared by the commands: the spec library, workload, targets,
dtypes and the search of one chip."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InfersimError
from ..specs.common import MAX_COUNT, MAX_TOKENS
from ..specs.library import ENV_VAR, Library

DEFAULT_INPUT_LEN = 1024
DEFAULT_OUTPUT_LEN = 256
MAX_CHIPS_OPTION = 100_000      # chips one search may use (model.mapping_search.MAX_CHIPS)
MAX_SAMPLES = 1_000_000         # Monte Carlo samples (memory: ~30 floats each, 8 bytes a float)
MAX_SAMPLE_CELLS = 4_000_000    # samples x chips of one Monte Carlo: ~150 bytes each, ~600 MB at most


# ---- option types: every number checked when it is parsed (argparse prints one line) ------------
def int_in(low: int, high: int, what: str = "a whole number"):
    """An argparse type: a whole number in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} from {low:,} to {high:,}, got {value:,}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = int_in(1, 2**62, "a whole number >= 1")
token_count = int_in(1, MAX_TOKENS, "a number of tokens")
batch_size = int_in(1, MAX_COUNT, "a batch size")
chip_count = int_in(1, MAX_CHIPS_OPTION, "a number of chips")


def float_in(low: float, high: float, what: str, low_open: bool = False, high_open: bool = False):
    """An argparse type: a finite number in [low, high] (ends excluded with low_open / high_open);
    nan and inf refused."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text.strip()!r} (a finite number is needed)")
        if value < low or value > high or (low_open and value == low) or (high_open and value == high):
            lo = "above" if low_open else "from"
            hi = "below" if high_open else "to"
            raise argparse.ArgumentTypeError(f"expected {what} {lo} {low:g} {hi} {high:g}, got {value:g}")
        return value
    parse.__name__ = what
    return parse


milliseconds = float_in(0.0, 1e9, "a number of milliseconds", low_open=True)
probability = float_in(0.0, 1.0, "a probability", high_open=True)  # 1 would never end a draft


def id_list(option: str, text: str | None) -> list[str] | None:
    """Comma-separated ids: None when the option was not given; empty entries and repeats refused."""
    if text is None:
        return None
    ids = [c.strip() for c in text.split(",")]
    if not any(ids):
        raise InfersimError(f"{option} is empty: give one or more ids separated by commas "
                            "(see `infersim specs list`)")
    if "" in ids:
        raise InfersimError(f"{option} '{text}' has an empty entry: remove the extra comma")
    repeated = sorted({c for c in ids if ids.count(c) > 1})
    if repeated:
        raise InfersimError(f"{option} lists {', '.join(repeated)} more than once: list each id once")
    return ids


def int_list(option: str, text: str, parse) -> list[int]:
    """Comma-separated whole numbers, each checked by the argparse type `parse`; repeats refused."""
    values = []
    for item in text.split(","):
        try:
            values.append(parse(item))
        except argparse.ArgumentTypeError as exc:
            raise InfersimError(f"{option} '{text}': {exc}") from None
    if len(set(values)) != len(values):
        raise InfersimError(f"{option} '{text}' lists a value more than once: list each once")
    return values


def chips_of(option: str, text: str | None, lib: Library) -> tuple[list[str], list[tuple[str, str]]]:
    """(chip ids, skipped): the ids given, each loaded now so that a bad one fails before any work; or,
    when the option is not given, every chip in the library, where a file that cannot be read or is
    invalid is skipped with its reason (one bad file does not stop a comparison of all the others)."""
    from ..errors import SpecError

    ids = id_list(option, text)
    if ids is not None:
        for c in ids:
            lib.chip(c)
        return ids, []
    good, bad = [], []
    for c in lib.ids("chip"):
        try:
            lib.chip(c)
            good.append(c)
        except SpecError as exc:
            bad.append((c, str(exc)))
    return good, bad


def library(args: argparse.Namespace) -> Library:
    return Library(user_dirs=[Path(p) for p in (getattr(args, "specs_dir", None) or [])])


def chip_list(text: str, option: str = "--chips") -> list[str]:
    """Chip ids given with `option`: at least one, no empty entry, none twice."""
    return id_list(option, text)


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
                 targets: bool = True, compute_dtype: bool = True, speculative: bool = False) -> None:
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
    p.add_argument("--input-len", type=token_count, metavar="TOKENS",
                   help=f"prompt tokens (default: the traffic spec's mean, else {DEFAULT_INPUT_LEN})")
    p.add_argument("--output-len", type=token_count, metavar="TOKENS",
                   help=f"generated tokens (default: the traffic spec's mean, else {DEFAULT_OUTPUT_LEN})")
    p.add_argument("--allow-long-context", action="store_true",
                   help="model a prompt + output longer than the model's max_position_embeddings (refused otherwise)")
    if batch:
        p.add_argument("--batch", type=batch_size, help="sequences per replica (default: the largest that fits "
                                                        "and meets the targets)")
    if num_chips:
        p.add_argument("--num-chips", type=chip_count, help="chips to use (default: the fewest that hold the model "
                                                              "and powers of two above, up to a server or the "
                                                              "scale-up domain)")
    if objective:
        p.add_argument("--objective", choices=["throughput", "latency"], default="throughput",
                       help="throughput: most tokens/s per chip; latency: lowest TPOT (default throughput)")
    if targets:
        p.add_argument("--max-ttft-ms", type=milliseconds, metavar="MS",
                       help="TTFT target (default: the traffic spec's, else none)")
        p.add_argument("--max-tpot-ms", type=milliseconds, metavar="MS",
                       help="TPOT target (default: the traffic spec's, else none)")
    if speculative:
        p.add_argument("--speculative", metavar="mtp|DRAFT_ID",
                       help="speculative decoding: the model's multi-token-prediction module (mtp) or a draft model id")
        p.add_argument("--draft-tokens", type=positive_int, metavar="K",
                       help="tokens drafted per step (default: the model's MTP modules, or 3 for a draft model)")
        p.add_argument("--acceptance", type=float, metavar="A",
                       help="probability a drafted token is accepted, 0 to 1 (default with mtp: the rate the model "
                            "file publishes; a draft model needs it)")


def add_concurrency(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=positive_int, metavar="C",
                   help="closed loop: C requests always in flight, each replaced as it finishes (as vLLM/SGLang "
                        "benchmarks with a maximum concurrency run); reports mean TTFT, mean TPOT and throughput at C, "
                        "with queueing when C exceeds what the engines hold")


def workload_of(args: argparse.Namespace, lib: Library):
    """Prompt and output lengths (options, else the traffic spec's means, else the defaults), checked
    against the model's context (max_position_embeddings) unless --allow-long-context."""
    from ..model.configuration import Workload, check_context

    inp, out = DEFAULT_INPUT_LEN, DEFAULT_OUTPUT_LEN
    if args.traffic:
        t = lib.traffic(args.traffic)
        inp, out = round(t.input.mean_tokens), round(t.output.mean_tokens)
    workload = Workload(args.input_len or inp, args.output_len or out)
    arch = lib.architecture(args.model)
    check_context(arch, workload.input_len, workload.output_len,
                  getattr(args, "allow_long_context", False), "--allow-long-context")
    method = getattr(args, "speculative", None)
    if method:
        from dataclasses import replace

        from ..model.speculative import resolve_speculation

        workload = replace(workload, speculation=resolve_speculation(lib, arch, method, args.draft_tokens,
                                                                     args.acceptance))
    elif hasattr(args, "speculative") and (args.draft_tokens is not None or args.acceptance is not None):
        raise InfersimError("--draft-tokens and --acceptance describe speculative decoding: give --speculative "
                            "mtp or --speculative DRAFT_ID with them")
    return workload


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
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InfersimError(f"{name} must be a positive number of milliseconds, got {v * 1e3:g}")
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
