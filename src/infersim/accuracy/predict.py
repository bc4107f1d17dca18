"""`infersim validate`: predict published measurements from the spec files alone.

Reads a CSV in the schema of benchmarks/accuracy/README.md (revision 3; accuracy.rows checks
it), turns each row into a Plan (accuracy.plan: the row's exact deployment, empty fields filled
and recorded), predicts it and reports the absolute percentage error per row, per metric and per
hardware family. The measured `value` never reaches a prediction.

Modes: offline rows are the serving model kept full (ServingModel.saturated); server rows the
serving model at a request rate (see predict); concurrency rows its closed loop
(serving.closed_loop); disagg rows a prefill and a decode pool (pools.DisaggDeployment);
fixed_batch and single_stream a static batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..model.configuration import Mapping
from ..model.evaluate import static_batch
from ..model.pools import DisaggDeployment
from ..model.serving import ServingModel, closed_loop
from ..specs.chip import ChipSpec
from ..specs.library import Library
from ..specs.traffic import LengthDistribution, lengths_around
from .plan import Plan, Skip, plan_row
from .rows import METRICS, MODES, InvalidRow, Rows, check_rows, read_rows
from .sources import family, source_group

__all__ = ["METRICS", "MODES", "Plan", "Report", "Skip", "check_rows", "family", "plan_row", "predict",
           "read_rows", "run_validation", "source_group"]

SERVER_LOADS = ("auto", "row", "limit")


def predict(plan: Plan, chip: ChipSpec | None = None, server_load: str = "auto") -> float:
    """The row's metric from its plan (optionally with another chip spec, e.g. refitted efficiencies).

    server_load: 'row' predicts server rows at their load_qps (the schema's definition); 'limit' at
    the highest rate whose p99 TTFT and TPOT meet the row's limits, which is what an MLPerf Server
    result is (the submitter raises the load until the limits bind), so its throughput is
    predicted rather than copied from load_qps x output_len; 'auto': 'limit' for rows whose load is
    the benchmark's result (plan.load_is_result) or that give no load, 'row' otherwise.

    Why 'limit' for MLPerf: those runs sit at 80-99 % of capacity, where the iteration time is
    T = a / (1 - rho); d ln T / d ln capacity = rho / (1 - rho) = 6-8 there, so a capacity right
    to 10 % gives TPOT at the given rate to no better than a factor of ~2."""
    chip = chip or plan.chip
    if plan.mode == "server":
        return _predict_server(plan, chip, server_load)
    if plan.mode == "offline":
        return _predict_offline(plan, chip)
    if plan.mode == "concurrency":
        return _predict_closed_loop(plan, chip)
    if plan.mode == "disagg":
        return _predict_disagg(plan, chip)
    s = static_batch(chip, plan.arch, plan.precision, plan.mapping, plan.workload, max(plan.batch, 1))
    if not s.fits:
        raise Skip(f"batch {plan.batch} does not fit {plan.mapping.label} on {chip.id} (max {s.max_batch})")
    values = {"system_output_tokens_per_s": s.system_tokens_per_s, "per_user_tokens_per_s": 1.0 / s.tpot_s,
              "ttft_ms": s.ttft_s * 1e3, "tpot_ms": s.tpot_s * 1e3}
    return float(values[plan.metric])


def _lengths(plan: Plan):
    """The dataset's spread (when the source has one), scaled to the row's mean lengths."""
    return lengths_around(plan.traffic, plan.workload.input_len, plan.workload.output_len)


def _serving_model(plan: Plan, chip: ChipSpec, mapping: Mapping | None = None, max_running: int = 0,
                   inputs=None, outputs=None):
    """The row's deployment under continuous batching, its in-flight cap the row's batch."""
    mapping = mapping or plan.mapping
    i, o = _lengths(plan)
    model = ServingModel(chip, plan.arch, plan.precision, mapping, inputs or i, outputs or o,
                         token_budget=max(plan.token_budget, 2), max_running=(max_running or plan.batch) or None,
                         dispatch_window_s=plan.dispatch_window_s)
    if model.max_batch < 1:
        raise Skip(f"{plan.arch.id} does not fit {mapping.label} on {chip.id} per the spec files")
    return model


def _values(ttft_s: float, tpot_s: float, tokens_per_s: float) -> dict:
    return {"system_output_tokens_per_s": tokens_per_s, "per_user_tokens_per_s": 1.0 / tpot_s,
            "ttft_ms": ttft_s * 1e3, "tpot_ms": tpot_s * 1e3}


def _predict_offline(plan: Plan, chip: ChipSpec) -> float:
    """An offline run keeps the engine full: in-flight batching at the running count the row's
    batch or KV memory allows, prompts prefilled inside the decode iterations."""
    if plan.metric == "ttft_ms":
        raise Skip("offline TTFT is not modelled: every prompt is queued at once, so it measures the run's length")
    running, t = _serving_model(plan, chip).saturated()
    return {"system_output_tokens_per_s": plan.mapping.replicas * running / t, "per_user_tokens_per_s": 1.0 / t,
            "tpot_ms": t * 1e3}[plan.metric]


def _predict_server(plan: Plan, chip: ChipSpec, server_load: str) -> float:
    """Mean TTFT, mean TPOT or output throughput at the row's load (or at the highest load that
    meets its p99 limits), under continuous batching."""
    model = _serving_model(plan, chip)
    if server_load == "auto":
        server_load = "limit" if plan.load_is_result or not plan.load_qps else "row"
    if server_load == "limit" and (plan.ttft_limit_s is not None or plan.tpot_limit_s is not None):
        rate = model.goodput_per_s(plan.ttft_limit_s, plan.tpot_limit_s)
        if rate <= 0:
            raise Skip(f"no request rate meets the row's p99 limits on {plan.mapping.label}")
        r = model.at_rate(rate)
    elif not plan.load_qps:
        raise Skip("a server row without load_qps is predicted at its p99 limits, and it gives none")
    else:
        r = model.at_rate(plan.load_qps)
    if not r.stable:
        raise Skip(f"at {r.rate_per_s:g} requests/s the model has no steady state on {plan.mapping.label}: {r.reason}")
    return _values(r.ttft_mean_s, r.tpot_mean_s, r.output_tokens_per_s)[plan.metric]


def _predict_closed_loop(plan: Plan, chip: ChipSpec) -> float:
    """A closed loop of the row's concurrency over its replicas (serving.closed_loop)."""
    try:
        r = closed_loop(_serving_model(plan, chip), plan.concurrency)
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    return _values(r.ttft_mean_s, r.tpot_mean_s, r.output_tokens_per_s)[plan.metric]


def _predict_disagg(plan: Plan, chip: ChipSpec) -> float:
    """Prefill and decode pools of the row's sizes and mappings, closed loop at its concurrency or
    open loop at its load_qps."""
    pools = plan.pools
    inputs, _ = _lengths(plan)
    prefill = _serving_model(plan, chip, pools.prefill, pools.prefill_batch, inputs,
                             LengthDistribution(mean_tokens=1.0))
    decode = _serving_model(plan, chip, pools.decode, pools.decode_batch)
    deployment = DisaggDeployment(prefill, decode, plan.arch, plan.precision)
    try:
        r = deployment.closed_loop(plan.concurrency) if plan.concurrency else deployment.at_rate(plan.load_qps)
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    return _values(r.ttft_mean_s, r.tpot_mean_s, r.output_tokens_per_s)[plan.metric]


def _summary_of(g: pd.DataFrame) -> dict:
    return {"n": len(g), "median_ape": float(np.median(g["ape"])), "p90_ape": float(np.percentile(g["ape"], 90)),
            "median_signed_error": float(np.median(g["signed_error"]))}


@dataclass
class Report:
    rows: pd.DataFrame                       # id, hardware, family, source_group, metric, predicted, measured, ape, ...
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (id, reason): not predicted
    server_load: str = "auto"
    invalid: list[InvalidRow] = field(default_factory=list)        # rows that break the schema

    def summary(self) -> dict:
        out = {"predicted": len(self.rows), "skipped": len(self.skipped), "invalid": len(self.invalid),
               "server_load": self.server_load, "by_metric": {}, "by_family": {}, "by_metric_family": {},
               "by_mode": {}}
        for key, cols in (("by_metric", ["metric"]), ("by_family", ["family"]), ("by_mode", ["mode"]),
                          ("by_metric_family", ["metric", "family"])):
            if not len(self.rows):
                continue
            for name, g in self.rows.groupby(cols):
                if key == "by_metric_family" and len(g) < 5:
                    continue
                label = "/".join(name) if isinstance(name, tuple) else name
                out[key][label] = _summary_of(g)
        if len(self.rows):
            out["all"] = {"n": len(self.rows), "median_ape": float(np.median(self.rows["ape"])),
                          "p90_ape": float(np.percentile(self.rows["ape"], 90))}
        return out


def run_validation(lib: Library, rows: Rows | pd.DataFrame, plans: dict | None = None,
                   chip_for: Callable[[str], ChipSpec] | None = None, progress=None,
                   server_load: str = "auto") -> Report:
    """Predict every valid row; invalid rows (Rows.invalid) are reported as such. `plans` caches
    plan_row results (id -> Plan or Skip reason); server_load as in predict()."""
    if server_load not in SERVER_LOADS:
        raise InfersimError(f"server load '{server_load}' is not one of {', '.join(SERVER_LOADS)}")
    df, invalid = (rows.table, rows.invalid) if isinstance(rows, Rows) else (rows, [])
    records, skipped = [], []
    for i, row in enumerate(df.to_dict("records")):
        if progress:
            progress(i, len(df), row["id"])
        try:
            plan = plans[row["id"]] if plans is not None and row["id"] in plans else plan_row(lib, row, chip_for)
            if isinstance(plan, Skip):
                raise plan
            if plans is not None:
                plans[row["id"]] = plan
            chip = chip_for(row["hardware"]) if chip_for else None
            pred = predict(plan, chip, server_load)
        except Skip as exc:
            if plans is not None and row["id"] not in plans:
                plans[row["id"]] = exc
            skipped.append((row["id"], str(exc)))
            continue
        measured = float(row["value"])
        records.append({"id": row["id"], "hardware": row["hardware"], "family": family(row["hardware"]),
                        "source_group": source_group(str(row["source"])), "mode": row["mode"], "metric": row["metric"],
                        "predicted": pred, "measured": measured, "ape": abs(pred - measured) / measured,
                        "signed_error": (pred - measured) / measured, "mapping": plan.mapping.label,
                        "num_chips": plan.mapping.chips if plan.pools is None else
                        plan.pools.prefill.chips + plan.pools.decode.chips,
                        "input_len_used": plan.workload.input_len, "input_len_from": plan.input_len_source,
                        "output_len_used": plan.workload.output_len, "weight_dtype_used": plan.precision.weight_dtype,
                        "filled": "; ".join(f"{k}={v}" for k, v in plan.used.items())})
    return Report(pd.DataFrame(records), skipped, server_load, list(invalid))
