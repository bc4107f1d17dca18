"""The public Python API: one function per question, each returning a pandas DataFrame with the
unit in every column name (`ttft_s`, `usd_per_mtok`, `tokens_per_s_per_chip`).

Every function takes ids of the spec library (`"llama-3.1-70b"`, `"nvidia-h100-sxm"`) or spec
objects (`Architecture`, `ChipSpec`, `BudgetSpec`), and an optional `library` (from
`load_library`; the bundled one by default). The work is done in `analysis/`, `model/`,
`sweep/` and `accuracy/`; this module only resolves arguments and shapes the tables.

    >>> import infersim
    >>> df = infersim.compare("llama-3.1-8b", ["nvidia-h100-sxm", "amd-mi300x"])
    >>> list(df["chip"])
    ['amd-mi300x', 'nvidia-h100-sxm']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InfersimError

if TYPE_CHECKING:
    import pandas as pd

    from .specs.budget import BudgetSpec
    from .specs.chip import ChipSpec
    from .specs.library import Library
    from .specs.model_arch import Architecture
    from .specs.sweep_file import SweepSpec

DEFAULT_BUDGET = "central-2025"
DEFAULT_INPUT_LEN = 1024
DEFAULT_OUTPUT_LEN = 256
_DEFAULT_LIBRARY: list = []


def load_library(*spec_dirs: str | Path, use_env: bool = True) -> Library:
    """The spec library: the bundled chips, models, traffic, budgets, scenarios and sweeps, with
    the folders in `spec_dirs` (and $INFERSIM_SPECS_PATH when `use_env`) searched first, so a
    file of yours with a bundled id replaces it. `Library.table()` lists every spec as a
    DataFrame.

    >>> lib = load_library()
    >>> specs = lib.table()
    >>> list(specs.columns)
    ['category', 'id', 'path']
    >>> "llama-3.1-70b" in set(specs[specs.category == "model"].id)
    True
    """
    from .specs.library import Library

    return Library(user_dirs=[Path(d) for d in spec_dirs], use_env=use_env)


def _library(library: Library | None) -> Library:
    if library is not None:
        return library
    if not _DEFAULT_LIBRARY:
        _DEFAULT_LIBRARY.append(load_library())
    return _DEFAULT_LIBRARY[0]


def _arch(lib: Library, model) -> Architecture:
    from .specs.model_arch import Architecture, ModelSpec, normalise

    if isinstance(model, Architecture):
        return model
    if isinstance(model, ModelSpec):
        return normalise(model.id, model.config)
    return lib.architecture(str(model))


def _chip(lib: Library, chip) -> ChipSpec:
    from .specs.chip import ChipSpec

    return chip if isinstance(chip, ChipSpec) else lib.chip(str(chip))


def _budget(lib: Library, budget) -> BudgetSpec | None:
    from .specs.budget import BudgetSpec

    if budget is None or isinstance(budget, BudgetSpec):
        return budget
    return None if budget == "none" else lib.budget(str(budget))


def _workload(lib: Library, traffic, input_len, output_len):
    from .model.configuration import Workload

    inp, out = DEFAULT_INPUT_LEN, DEFAULT_OUTPUT_LEN
    t = None
    if traffic is not None:
        from .specs.traffic import TrafficSpec

        t = traffic if isinstance(traffic, TrafficSpec) else lib.traffic(str(traffic))
        inp, out = round(t.input.mean_tokens), round(t.output.mean_tokens)
    for name, v in (("input_len", input_len), ("output_len", output_len)):
        if v is not None and (not isinstance(v, int) or v < 1):
            raise InfersimError(f"{name} must be a whole number >= 1, got {v!r}")
    return Workload(input_len or inp, output_len or out), t


def _targets(t, max_ttft_s, max_tpot_s):
    from .model.mapping_search import Targets

    ttft = max_ttft_s if max_ttft_s is not None else (t.ttft_target_s if t is not None else None)
    tpot = max_tpot_s if max_tpot_s is not None else (t.tpot_target_s if t is not None else None)
    for name, v in (("max_ttft_s", ttft), ("max_tpot_s", tpot)):
        if v is not None and not v > 0:
            raise InfersimError(f"{name} must be a positive number of seconds, got {v!r}")
    return Targets(ttft, tpot)


def _kv(weight_dtype: str, kv_dtype: str | None) -> str:
    return kv_dtype or ("fp8" if weight_dtype in ("fp8", "fp4") else "bf16")


def compare(model, chips=None, *, library: Library | None = None, traffic=None, input_len: int | None = None,
            output_len: int | None = None, weight_dtype: str = "bf16", kv_dtype: str | None = None,
            compute_dtype: str | None = None, num_chips: int | None = None, batch: int | None = None,
            objective: str = "throughput", max_ttft_s: float | None = None, max_tpot_s: float | None = None,
            budget=DEFAULT_BUDGET, price_basis: str = "owner", uncertainty_samples: int = 0,
            rank_by: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Rank chips for one model and workload: each chip at its best chip count, mapping and batch,
    priced with `budget` (None: unpriced) and ranked by $/M output tokens (or tokens/s per chip).

    `chips`: ids or ChipSpecs (default: every chip in the library). `traffic`: a traffic id whose
    mean lengths and latency targets apply unless given. `uncertainty_samples` > 0 adds the
    P10/P50/P90 of $/M tokens from a Monte Carlo over the budget's ranges. Chips that cannot run
    the model are left out; `df.attrs["skipped"]` lists them with the reason.

    >>> df = compare("llama-3.1-70b", ["nvidia-h100-sxm", "nvidia-b200", "amd-mi300x"],
    ...              weight_dtype="fp8", traffic="chat", uncertainty_samples=500)
    >>> df[["chip", "num_chips", "usd_per_mtok"]].columns.tolist()
    ['chip', 'num_chips', 'usd_per_mtok']
    >>> bool((df["usd_per_mtok_p10"] <= df["usd_per_mtok_p90"]).all())
    True
    >>> bool((df["tpot_s"] <= 0.040).all())   # the chat traffic's TPOT target, 40 ms
    True
    """
    from .analysis.compare import compare as _compare

    lib = _library(library)
    arch = _arch(lib, model)
    chip_list = [_chip(lib, c) for c in (chips if chips is not None else lib.ids("chip"))]
    workload, t = _workload(lib, traffic, input_len, output_len)
    result = _compare(lib, arch, chip_list, workload, weight_dtype, _kv(weight_dtype, kv_dtype), compute_dtype,
                      num_chips, batch or 0, objective, _targets(t, max_ttft_s, max_tpot_s),
                      _budget(lib, budget), price_basis, uncertainty_samples, rank_by, seed)
    table = result.table
    table.attrs["skipped"] = result.skipped
    return table


def evaluate(model, chip, *, library: Library | None = None, tp: int | None = None, pp: int = 1, ep: int = 1,
             dp: int = 1, attn_dp: int = 1, num_chips: int | None = None, batch: int | None = None, traffic=None,
             input_len: int | None = None, output_len: int | None = None, weight_dtype: str = "bf16",
             kv_dtype: str | None = None, compute_dtype: str | None = None, objective: str = "throughput",
             budget=DEFAULT_BUDGET, price_basis: str = "owner") -> pd.DataFrame:
    """One configuration of one chip, with its cost: a one-row DataFrame (the columns of
    `compare`). With `tp` the mapping is attention TP x PP x attention DP (`attn_dp`) with experts
    over `ep` ranks, `dp` replicas, at `batch` (default: the
    largest that fits); without, the best mapping for `objective` is searched on `num_chips`
    (default: the chip counts of `compare`).

    >>> row = evaluate("llama-3.1-8b", "nvidia-h100-sxm", tp=1, batch=32)
    >>> int(row.num_chips[0]), int(row.batch[0]), str(row.decode_bound[0])
    (1, 32, 'memory')
    >>> bool(row.usd_per_mtok[0] > 0 and row.tpot_s[0] > 0)
    True
    """
    from .analysis.compare import priced_record
    from .model.configuration import Mapping, resolve_precision
    from .model.evaluate import evaluate as _evaluate
    from .model.mapping_search import min_chips_to_fit, search

    import pandas as pd

    lib = _library(library)
    arch, spec = _arch(lib, model), _chip(lib, chip)
    workload, t = _workload(lib, traffic, input_len, output_len)
    precision = resolve_precision(spec, weight_dtype, _kv(weight_dtype, kv_dtype), compute_dtype)
    if tp is None:
        found = search(spec, arch, precision, workload, num_chips, batch or 0, objective,  # type: ignore[arg-type]
                       _targets(t, None, None))
        result, need, counts = found.best, found.min_chips, found.chip_counts
    else:
        mapping = Mapping(tp=tp, pp=pp, ep=ep, replicas=dp, attn_dp=attn_dp)
        result = _evaluate(spec, arch, precision, mapping, workload, batch or 0)
        if not result.fits:
            raise InfersimError(f"{arch.id} does not fit {mapping.label} on {spec.id} at batch {batch or 1}: "
                                f"raise tp or pp, or lower the batch")
        need, _ = min_chips_to_fit(spec, arch, precision, workload)
        counts = (mapping.chips,)
    return pd.DataFrame([priced_record(result, spec, workload, need, counts, _budget(lib, budget), price_basis,
                                       lib.platform_of(spec))])


def goodput(model, chip, *, library: Library | None = None, traffic=None, input_len: int | None = None,
            output_len: int | None = None, weight_dtype: str = "bf16", kv_dtype: str | None = None,
            compute_dtype: str | None = None, num_chips: int | None = None, max_ttft_s: float | None = None,
            max_tpot_s: float | None = None, budget=DEFAULT_BUDGET, price_basis: str = "owner") -> pd.DataFrame:
    """Serving under load: the largest request rate whose p99 TTFT and TPOT meet the targets
    under continuous batching with Poisson arrivals, over mappings; a one-row DataFrame with the
    rate, the deployment, the latencies at that rate and the $/M output tokens there. A traffic
    spec brings its length spread and targets.

    >>> g = goodput("llama-3.1-8b", "nvidia-h100-sxm", traffic="chat")
    >>> bool(g.ttft_p99_s[0] <= 0.450 and g.tpot_p99_s[0] <= 0.040 * 1.001)
    True
    >>> bool(g.goodput_requests_per_s[0] <= g.capacity_requests_per_s[0])
    True
    """
    from .analysis.goodput import goodput_record, goodput_search
    from .model.configuration import resolve_precision
    from .specs.traffic import lengths_around

    import pandas as pd

    lib = _library(library)
    arch, spec = _arch(lib, model), _chip(lib, chip)
    workload, t = _workload(lib, traffic, input_len, output_len)
    targets = _targets(t, max_ttft_s, max_tpot_s)
    precision = resolve_precision(spec, weight_dtype, _kv(weight_dtype, kv_dtype), compute_dtype)
    inputs, outputs = lengths_around(t, workload.input_len, workload.output_len)
    g, counts = goodput_search(spec, arch, precision, workload, inputs, outputs, targets.max_ttft_s,
                               targets.max_tpot_s, num_chips)
    return pd.DataFrame([goodput_record(g, spec, arch, precision, counts, _budget(lib, budget), price_basis,
                                        lib.platform_of(spec))])


def frontier(model, chips, *, library: Library | None = None, traffic=None, input_len: int | None = None,
             output_len: int | None = None, weight_dtype: str = "bf16", kv_dtype: str | None = None,
             budget=DEFAULT_BUDGET, price_basis: str = "owner") -> pd.DataFrame:
    """The throughput-interactivity frontier: one row per chip x mapping x batch that fits (batches
    in powers of two), with `on_frontier` True where no other point of that chip has both more
    tokens/s per user and a lower $/M tokens (or more tokens/s per chip, unpriced).

    >>> pts = frontier("llama-3.1-8b", ["nvidia-h100-sxm"], weight_dtype="fp8")
    >>> front = pts[pts.on_frontier].sort_values("user_tokens_per_s")
    >>> bool(front.usd_per_mtok.is_monotonic_increasing)   # faster per user costs more per token
    True
    """
    from .analysis.frontier import frontier_points, per_chip_frontiers

    lib = _library(library)
    arch = _arch(lib, model)
    chip_list = [_chip(lib, c) for c in chips]
    workload, _ = _workload(lib, traffic, input_len, output_len)
    b = _budget(lib, budget)
    points, skipped = frontier_points(lib, arch, chip_list, workload, weight_dtype, _kv(weight_dtype, kv_dtype), b,
                                      price_basis)
    if points.empty:
        raise InfersimError("no chip could run the model: " + "; ".join(f"{c}: {w}" for c, w in skipped))
    y = "usd_per_mtok" if b is not None else "tokens_per_s_per_chip"
    front = per_chip_frontiers(points, y, b is not None)
    keys = ["chip", "mapping", "batch"]
    points["on_frontier"] = points.set_index(keys).index.isin(front.set_index(keys).index)
    points.attrs["skipped"] = skipped
    return points


def sweep(spec, *, library: Library | None = None, chunk_points: int = 2_000_000, backend: str = "local",
          scheduler: str | None = None) -> pd.DataFrame:
    """A design-space sweep (a sweep id, a .toml path or a SweepSpec), streamed in chunks: the
    points kept (`kept_as` "top_k": the best per chip variant; "pareto": the front of $/M tokens
    against tokens/s per user). `df.attrs` holds `n_points`, `n_feasible`, `seconds` and the
    histogram of $/M tokens (`histogram`, a DataFrame).

    >>> df = sweep("hbm-bandwidth-what-if")
    >>> df.attrs["n_points"]
    228096
    >>> sorted(set(df.kept_as))
    ['pareto', 'top_k']
    """
    from .specs.loader import load
    from .specs.sweep_file import SweepSpec
    from .design_space.run import run_sweep

    lib = _library(library)
    if not isinstance(spec, SweepSpec):
        spec = load(Path(spec), SweepSpec) if str(spec).endswith(".toml") else lib.sweep(str(spec))
    result = run_sweep(lib, spec, chunk_points=chunk_points, backend=backend, scheduler=scheduler)
    table = result.table
    table.attrs.update(n_points=result.n_points, n_feasible=result.n_feasible, seconds=result.seconds,
                       histogram=result.histogram, skipped=result.skipped)
    return table


def validate(rows, *, library: Library | None = None, server_load: str = "auto") -> pd.DataFrame:
    """Predict published measurements from the spec files alone: `rows` is a CSV path or a
    DataFrame in the schema of benchmarks/accuracy/README.md. One row per predicted measurement:
    `predicted` and `measured` (in the unit the `metric` names: `ttft_ms`, `tpot_ms`,
    `system_output_tokens_per_s`...), the absolute (`ape`) and signed error as fractions.
    `df.attrs["skipped"]` lists the rows not predicted, with the reason; `df.attrs["invalid"]` the
    rows that break the schema, as (line, id, reason).

    >>> import pandas as pd
    >>> rows = pd.read_csv("benchmarks/accuracy/calibration.csv")
    >>> df = validate(rows[rows.hardware == "aws-inferentia2"].head(3))
    >>> len(df), bool((df.ape < 1).all())
    (3, True)
    """
    from .accuracy.predict import check_rows, read_rows, run_validation

    lib = _library(library)
    if isinstance(rows, (str, Path)):
        frame = read_rows(Path(rows))
    else:
        frame = check_rows(rows.reset_index(drop=True), "rows")
    report = run_validation(lib, frame, server_load=server_load)
    table = report.rows
    table.attrs["skipped"] = report.skipped
    table.attrs["invalid"] = [(b.line, b.id, b.reason) for b in report.invalid]
    return table
