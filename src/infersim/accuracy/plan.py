"""Turn one validated row into a Plan: the chip, model, precision, lengths, exact deployment and
runtime settings its prediction needs, or Skip with the reason it cannot be predicted.

The deployment is exactly the row's: `num_chips` chips, and the row's mapping when it gives one. A
mapping that does not hold the model is not predicted (never replaced by another). An empty field
means unknown and is filled as the schema says, and the value used is recorded in Plan.used:
- `num_chips`: the smallest deployment that holds the model as its vendor would run it (tensor
  parallel within the scale-up domain, a power of two; pipeline stages only beyond it);
- `weight_dtype`: the model's native dtype (its config.json);
- `input_len` / `output_len`: the mean of the source's dataset (workloads/traffic);
- mapping: the best of the mappings that use every chip (tp x pp divides num_chips): most
  throughput for load-driven modes, lowest TPOT of one replica for static batches.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import InfersimError
from ..model.configuration import Mapping, Workload, check_mapping, resolve_precision
from ..model.deployment import MIN_SEQUENCES, best_exact_mapping, smallest_deployment
from ..model.evaluate import evaluate
from ..model.mapping_search import tp_candidates
from ..model.serving import DEFAULT_TOKEN_BUDGET, ServingModel, closed_loop
from ..specs.chip import ChipSpec
from ..specs.library import Library
from ..specs.model_arch import native_weight_dtype
from ..specs.traffic import lengths_around
from . import sources

LATENCY_MODES = ("fixed_batch", "single_stream")


class Skip(Exception):
    """A row that cannot be predicted; the message is the reason."""


@dataclass(frozen=True)
class Pools:
    """A disaggregated row's prefill and decode pools: one instance's mapping (replicas = instances)."""

    prefill: Mapping
    decode: Mapping
    prefill_batch: int = 0
    decode_batch: int = 0


@dataclass(frozen=True)
class Plan:
    """Everything a row's prediction needs except the chip's efficiencies (reused when fitting)."""

    chip: ChipSpec
    arch: object
    precision: object
    workload: Workload
    mapping: Mapping
    batch: int
    mode: str
    metric: str
    input_len_source: str
    load_qps: float = 0.0
    traffic: object = None      # the dataset's length distributions (server and closed-loop rows)
    ttft_limit_s: float | None = None
    tpot_limit_s: float | None = None
    load_is_result: bool = False  # the row's load_qps is what the benchmark measured (sources.LOAD_IS_RESULT)
    dispatch_window_s: float = 0.0  # the harness's gathering window (sources.RUNTIME_SETTINGS)
    token_budget: int = DEFAULT_TOKEN_BUDGET  # tokens per iteration (sources.RUNTIME_SETTINGS)
    concurrency: int = 0        # closed-loop rows: requests in flight, whole system
    pools: Pools | None = None  # disaggregated rows
    used: dict = field(default_factory=dict)  # empty fields and what was used in their place


def num(row, col):
    """A row's field, or None when empty (NaN) or absent."""
    v = row.get(col) if hasattr(row, "get") else row[col]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def _int(row, col, default=None):
    v = num(row, col)
    return default if v is None else int(v)


def given_mapping(chip: ChipSpec, arch, precision, workload: Workload, row, chips: int, where: str = "") -> Mapping:
    """The row's own mapping on `chips` chips (attention tp x pp x attn_dp per replica, experts over
    ep ranks, as schema revision 3 defines them); Skip if it does not hold the model."""
    tp, pp = _int(row, f"{where}tp"), _int(row, f"{where}pp", 1)
    attn_dp = _int(row, f"{where}attn_dp", 1)
    ep = _int(row, f"{where}ep", 1)
    m = Mapping(tp=tp, pp=pp, ep=ep, replicas=max(1, chips // (tp * pp * attn_dp)), attn_dp=attn_dp)
    try:
        check_mapping(chip, arch, m)
    except InfersimError as exc:
        raise Skip(f"the row's mapping {m.label}: {exc}") from None
    fit = evaluate(chip, arch, precision, m, workload, batch=1)
    if not fit.fits:
        raise Skip(f"the row's mapping {m.label} does not hold {arch.id} ({precision.weight_dtype}) on "
                   f"{chip.id} per the spec files")
    return m


def exact_mapping(chip, arch, precision, workload, chips, batch, latency, score=None) -> Mapping:
    try:
        return best_exact_mapping(chip, arch, precision, workload, chips, batch, latency, score)
    except InfersimError as exc:
        raise Skip(str(exc)) from None


def _lengths(lib: Library, row, used: dict):
    """(input, output, traffic spec or None, where the input length came from)."""
    inp, out = num(row, "input_len"), num(row, "output_len")
    traffic, source = None, "row"
    mode = row["mode"]
    if inp is None or out is None or mode in ("server", "concurrency", "disagg"):
        tid = sources.dataset_for(str(row["source"]), row["model"])
        if tid is not None and tid in lib.ids("traffic"):
            traffic = lib.traffic(tid)
            if inp is None:
                inp, source = traffic.input.mean_tokens, tid
                used["input_len"] = f"{inp:g} (dataset {tid})"
            if out is None:
                out = traffic.output.mean_tokens
                used["output_len"] = f"{out:g} (dataset {tid})"
        elif inp is None or out is None:
            raise Skip("input_len/output_len empty and no dataset spec in workloads/traffic for this source")
    return inp, out, traffic, source


def plan_row(lib: Library, row, chip_for: Callable[[str], ChipSpec] | None = None) -> Plan:
    """Resolve a validated row into a Plan, or raise Skip with the reason."""
    mode, metric = row["mode"], row["metric"]
    used: dict[str, str] = {}
    try:
        chip = chip_for(row["hardware"]) if chip_for else lib.chip(row["hardware"])
        arch = lib.architecture(row["model"])
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    if mode == "server" and num(row, "load_qps") is None and num(row, "ttft_slo_ms") is None \
            and num(row, "tpot_slo_ms") is None:
        raise Skip("a server row needs load_qps (or p99 limits to predict the highest rate meeting them)")
    if mode == "concurrency" and num(row, "concurrency") is None:
        raise Skip("a concurrency row needs concurrency (requests in flight)")
    if mode == "fixed_batch" and num(row, "batch") is None:
        raise Skip("a fixed_batch row needs batch")
    inp, out, traffic, input_src = _lengths(lib, row, used)
    workload = Workload(max(1, round(inp)), max(1, round(out)))
    weight = num(row, "weight_dtype")
    if weight is None:
        try:
            weight = native_weight_dtype(lib.model(row["model"]))
        except InfersimError as exc:
            raise Skip(str(exc)) from None
        used["weight_dtype"] = f"{weight} (native dtype of {row['model']})"
    kv = num(row, "kv_dtype") or ("fp8" if weight in ("fp8", "fp4") else "bf16")
    compute = sources.weight_only_compute(str(row["source"])) if weight in ("int8", "int4") else None
    try:
        precision = resolve_precision(chip, weight, kv, compute)
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    batch = 1 if mode == "single_stream" else _int(row, "batch", 0)
    pools = None
    if mode == "disagg":
        mapping, pools, n = _disagg_pools(chip, arch, precision, workload, row, used)
    else:
        n = _int(row, "num_chips")
        if _int(row, "tp") is not None:
            per_replica = _int(row, "tp") * _int(row, "pp", 1) * _int(row, "attn_dp", 1)
            if n is None:
                n = per_replica
                used["num_chips"] = f"{n} (one replica of the row's mapping)"
            mapping = given_mapping(chip, arch, precision, workload, row, n)
        elif n is None:
            try:
                mapping = smallest_deployment(chip, arch, precision, workload, batch)
            except InfersimError as exc:
                raise Skip(str(exc)) from None
            n = mapping.chips
            used["num_chips"] = (f"{n} (smallest deployment that holds the model and {max(batch, MIN_SEQUENCES)} "
                                 f"sequences: {mapping.label})")
        else:
            score = _closed_loop_score(chip, arch, precision, workload, traffic, row, batch) \
                if mode == "concurrency" else None
            mapping = exact_mapping(chip, arch, precision, workload, n, batch, latency=mode in LATENCY_MODES,
                                    score=score)
            used["mapping"] = f"{mapping.label} (best of those using all {n} chips" + \
                (f" at concurrency {_int(row, 'concurrency')})" if score else ")")
    ttft_limit, tpot_limit = num(row, "ttft_slo_ms"), num(row, "tpot_slo_ms")
    load_is_result = (ttft_limit is not None or tpot_limit is not None) and \
        sources.matches(sources.LOAD_IS_RESULT, str(row["source"]))
    runtime = sources.runtime_settings(str(row["source"]))
    window = runtime.get("dispatch_window_s", 0.0) if mode == "server" else 0.0
    return Plan(chip, arch, precision, workload, mapping, batch, mode, metric, input_src,
                float(num(row, "load_qps") or 0.0), traffic,
                None if ttft_limit is None else ttft_limit / 1e3, None if tpot_limit is None else tpot_limit / 1e3,
                load_is_result, window, runtime.get("token_budget", DEFAULT_TOKEN_BUDGET),
                _int(row, "concurrency", 0), pools, used)


def _disagg_pools(chip, arch, precision, workload, row, used):
    """The prefill and decode pools of a disagg row: chips from the row (or num_chips less the other
    pool), mappings from the row or the best that uses all of a pool's chips."""
    if num(row, "concurrency") is None and num(row, "load_qps") is None:
        raise Skip("a disagg row needs concurrency (closed loop) or load_qps (open loop)")
    n = _int(row, "num_chips")
    chips = {p: _int(row, f"{p}_chips") for p in ("prefill", "decode")}
    for p, other in (("prefill", "decode"), ("decode", "prefill")):
        if chips[p] is None and chips[other] is not None and n is not None and n > chips[other]:
            chips[p] = n - chips[other]
            used[f"{p}_chips"] = f"{chips[p]} (num_chips less the {other} pool)"
    maps = {}
    for p in ("prefill", "decode"):
        if _int(row, f"{p}_tp") is not None:
            if chips[p] is None:
                chips[p] = _int(row, f"{p}_tp") * _int(row, f"{p}_pp", 1) * _int(row, f"{p}_attn_dp", 1)
                used[f"{p}_chips"] = f"{chips[p]} (one {p} instance)"
            maps[p] = given_mapping(chip, arch, precision, workload, row, chips[p], where=f"{p}_")
        elif chips[p] is None:
            raise Skip(f"a disagg row needs {p}_chips or a {p} mapping")
        else:
            maps[p] = _prefill_instances(chip, arch, precision, workload, chips[p]) if p == "prefill" else None
            maps[p] = maps[p] or exact_mapping(chip, arch, precision, workload, chips[p], 0, latency=False)
            used[f"{p}_mapping"] = f"{maps[p].label} (best of those using all {chips[p]} {p} chips)"
    pools = Pools(maps["prefill"], maps["decode"], _int(row, "prefill_batch", 0), _int(row, "decode_batch", 0))
    return maps["decode"], pools, chips["prefill"] + chips["decode"]


def _prefill_instances(chip, arch, precision, workload, chips: int) -> Mapping | None:
    """Prefill pools run many small instances: the smallest tensor-parallel group that holds the
    model and divides the pool, one instance per group (None if no single-stage group does)."""
    for tp in tp_candidates(chip, arch):
        if chips % tp == 0 and evaluate(chip, arch, precision, Mapping(tp=tp), workload, batch=1).fits:
            return Mapping(tp=tp, replicas=chips // tp)
    return None


def _closed_loop_score(chip, arch, precision, workload, traffic, row, batch):
    """Output tokens/s of a mapping in the row's closed loop (to choose the mapping of a
    concurrency row that does not give one)."""
    inputs, outputs = lengths_around(traffic, workload.input_len, workload.output_len)
    concurrency = _int(row, "concurrency")

    def score(m: Mapping) -> float:
        model = ServingModel(chip, arch, precision, m, inputs, outputs, max_running=batch or None)
        try:
            return closed_loop(model, concurrency).output_tokens_per_s
        except InfersimError:
            return 0.0

    return score
