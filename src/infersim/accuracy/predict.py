"""`infersim validate`: predict published measurements from the spec files alone.

Reads a CSV in the schema of ../shared/validation/README.md (bundled as
benchmarks/accuracy/README.md), predicts every row it can from its hardware, chip count, model,
dtypes, mode, lengths, batch and mapping, and reports the absolute percentage error per row, per
metric and per hardware family. The measured `value` never reaches a prediction.

Modes: offline rows are the serving model kept full (ServingModel.saturated); server rows the
serving model at a request rate (see predict); fixed_batch and single_stream a static batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..model.configuration import Mapping, Workload, resolve_precision
from ..model.evaluate import static_batch
from ..model.mapping_search import search
from ..model.serving import DEFAULT_TOKEN_BUDGET, ServingModel
from ..specs.chip import ChipSpec
from ..specs.library import Library
from ..specs.traffic import lengths_around

REQUIRED_COLUMNS = ["id", "hardware", "num_chips", "model", "weight_dtype", "kv_dtype", "mode", "input_len",
                    "output_len", "batch", "load_qps", "tp", "pp", "ep", "ttft_slo_ms", "tpot_slo_ms", "metric",
                    "value", "source"]
METRICS = ("system_output_tokens_per_s", "per_user_tokens_per_s", "ttft_ms", "tpot_ms")
MODES = ("offline", "server", "fixed_batch", "single_stream")
# hardware id prefix -> calibration family (first match); CPUs apart from their vendor's accelerators
FAMILIES = (("nvidia-", "nvidia"), ("amd-epyc", "amd-epyc"), ("amd-", "amd"), ("intel-gaudi", "intel-gaudi"),
            ("intel-xeon", "intel-xeon"), ("google-tpu", "google-tpu"), ("aws-inferentia", "aws-inferentia"),
            ("aws-trainium", "aws-trainium"), ("aws-graviton", "aws-graviton"), ("groq-", "groq"),
            ("cerebras-", "cerebras"), ("sambanova-", "sambanova"))
SOURCE_GROUPS = ((r"inference_results_v4\.1", "MLPerf v4.1"), (r"inference_results_v4\.0", "MLPerf v4.0"),
                 (r"TensorRT-LLM", "TensorRT-LLM"), (r"aws-neuron", "AWS Neuron"), (r"jetstream", "JetStream"))
# sources whose server load is the benchmark's result: MLPerf LoadGen's Server score is the highest
# rate the submitter found that still meets the p99 limits, so the rate is measured, not given
LOAD_IS_RESULT = (r"mlcommons/inference_results",)
# sources whose runtime stores integer weights but multiplies in bf16 (weight-only quantization), so
# the chip's int8 peak does not apply: AWS Neuron (transformers-neuronx; the data README says Llama-3-8B
# "stores weights in INT8 and computes in BF16") and JetStream-PyTorch (jetstream_pt/layers.py,
# WeightOnlyPerChannelQuantizedLinear: int8 weights, bf16 activations and matmul)
WEIGHT_ONLY_SOURCES = ((r"aws-neuron", "bf16"), (r"jetstream", "bf16"))
# runtime settings of a source's engine that the rows do not carry, read in the submitters' code:
# - token_budget: tokens one iteration may take (ServingModel token_budget). TensorRT-LLM engines of
#   MLPerf v4.1 are built with max_num_tokens = 16384 (code/llama2-70b/tensorrt/builder.py, the
#   JuniperNetworks copy of NVIDIA's harness; NVIDIA's own is not public in that form). AMD's vLLM
#   harness passes max_num_batched_tokens = 49152 (mainVllmFp8_SyncServer.py argument default).
# - dispatch_window_s (server runs): AMD's harness runs with --enable-batcher
#   (closed/AMD/code/llama2-70b-99.9/test_VllmFp8/test_VllmFp8_SyncServer_audit.sh); its batcher sends
#   what it holds once 0.3 s have passed since the last send (--batcher-threshold 0.3, at most
#   --gpu-batch-size 96 queries) to the next engine in turn (SyncServerSUT.batch_samples_loop).
RUNTIME_SETTINGS = ((r"closed/AMD/results/", {"token_budget": 49152, "dispatch_window_s": 0.3}),
                    (r"closed/[^/]+/results/[^/]+_TRT/", {"token_budget": 16384}))
# the traffic spec holding a dataset's length statistics, when a row leaves input_len empty
DATASETS = ((r"mlcommons/inference_results", "llama-2-70b", "mlperf-llama2-70b-openorca"),
            (r"mlcommons/inference_results", "mixtral-8x7b", "mlperf-mixtral-8x7b"),
            (r"jetstream", None, "sharegpt-jetstream"))


def family(hardware: str) -> str:
    return next((name for prefix, name in FAMILIES if hardware.startswith(prefix)), "other")


def source_group(source: str) -> str:
    return next((name for pattern, name in SOURCE_GROUPS if re.search(pattern, source, re.IGNORECASE)), "other")


class Skip(Exception):
    """A row that cannot be predicted; the message is the reason."""


def read_rows(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, dtype={"id": str, "kv_dtype": str})
    except FileNotFoundError:
        raise InfersimError(f"{path}: file not found") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InfersimError(f"{path}: not a readable CSV ({exc})") from None
    return check_rows(df, str(path))


def check_rows(df: pd.DataFrame, path: str) -> pd.DataFrame:
    """The rows if they follow the schema (columns, metrics, modes, unique ids); `path` names them."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InfersimError(f"{path}: missing column(s) {', '.join(missing)}: see the schema in benchmarks/accuracy/README.md")
    bad = df[~df["metric"].isin(METRICS)]
    if len(bad):
        raise InfersimError(f"{path}: row {bad.iloc[0]['id']}: unknown metric '{bad.iloc[0]['metric']}' "
                            f"(one of {', '.join(METRICS)})")
    bad = df[~df["mode"].isin(MODES)]
    if len(bad):
        raise InfersimError(f"{path}: row {bad.iloc[0]['id']}: unknown mode '{bad.iloc[0]['mode']}' (one of {', '.join(MODES)})")
    if df["id"].duplicated().any():
        raise InfersimError(f"{path}: row id '{df.loc[df['id'].duplicated(), 'id'].iloc[0]}' appears twice")
    return df


def _num(row, col):
    v = row[col]
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


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
    traffic: object = None      # the dataset's length distributions (server rows)
    ttft_limit_s: float | None = None
    tpot_limit_s: float | None = None
    load_is_result: bool = False  # the row's load_qps is what the benchmark measured (see LOAD_IS_RESULT)
    dispatch_window_s: float = 0.0  # the harness's gathering window (see RUNTIME_SETTINGS)
    token_budget: int = DEFAULT_TOKEN_BUDGET  # tokens per iteration (see RUNTIME_SETTINGS)


def plan_row(lib: Library, row, chip_for: Callable[[str], ChipSpec] | None = None) -> Plan:
    """Resolve a row into a Plan, or raise Skip with the reason."""
    mode, metric = row["mode"], row["metric"]
    if mode == "server" and _num(row, "load_qps") is None:
        raise Skip("a server row needs load_qps")
    try:
        chip = chip_for(row["hardware"]) if chip_for else lib.chip(row["hardware"])
        arch = lib.architecture(row["model"])
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    inp, out = _num(row, "input_len"), _num(row, "output_len")
    input_src = "row"
    traffic = None
    if inp is None or out is None or mode == "server":
        traffic_id = next((t for pat, model, t in DATASETS if re.search(pat, str(row["source"]), re.IGNORECASE)
                           and model in (None, row["model"])), None)
        if traffic_id is not None and traffic_id in lib.ids("traffic"):
            traffic = lib.traffic(traffic_id)
            inp = inp if inp is not None else traffic.input.mean_tokens
            out = out if out is not None else traffic.output.mean_tokens
            input_src = traffic_id
        elif inp is None or out is None:
            raise Skip("input_len/output_len empty and no dataset spec in workloads/traffic for this source")
    workload = Workload(max(1, round(inp)), max(1, round(out)))
    kv = _num(row, "kv_dtype") or ("fp8" if row["weight_dtype"] in ("fp8", "fp4") else "bf16")
    compute = next((c for pat, c in WEIGHT_ONLY_SOURCES if re.search(pat, str(row["source"]), re.IGNORECASE)), None) \
        if row["weight_dtype"] in ("int8", "int4") else None
    try:
        precision = resolve_precision(chip, row["weight_dtype"], kv, compute)
    except InfersimError as exc:
        raise Skip(str(exc)) from None
    n = int(_num(row, "num_chips") or 1)
    batch = int(_num(row, "batch") or 0)
    if mode == "single_stream":
        batch = 1
    tp = _num(row, "tp")
    try:
        if tp is not None:
            tp, pp = int(tp), int(_num(row, "pp") or 1)
            ep = int(_num(row, "ep") or 1)
            ep = ep if ep in (1, tp) else 1
            mapping = Mapping(tp=tp, pp=pp, ep=ep, replicas=max(1, n // (tp * pp)))
        else:
            found = search(chip, arch, precision, workload, num_chips=n, batch=0, objective="throughput")
            mapping = found.best.mapping
    except InfersimError as exc:
        raise Skip(f"no mapping on {n} x {chip.id}: {exc}") from None
    ttft_limit, tpot_limit = _num(row, "ttft_slo_ms"), _num(row, "tpot_slo_ms")
    load_is_result = (ttft_limit is not None or tpot_limit is not None) and \
        any(re.search(pat, str(row["source"]), re.IGNORECASE) for pat in LOAD_IS_RESULT)
    runtime = next((r for pat, r in RUNTIME_SETTINGS if re.search(pat, str(row["source"]), re.IGNORECASE)), {})
    window = runtime.get("dispatch_window_s", 0.0) if mode == "server" else 0.0
    return Plan(chip, arch, precision, workload, mapping, batch, mode, metric, input_src,
                float(_num(row, "load_qps") or 0.0), traffic,
                None if ttft_limit is None else ttft_limit / 1e3, None if tpot_limit is None else tpot_limit / 1e3,
                load_is_result, window, runtime.get("token_budget", DEFAULT_TOKEN_BUDGET))


SERVER_LOADS = ("auto", "row", "limit")


def predict(plan: Plan, chip: ChipSpec | None = None, server_load: str = "auto") -> float:
    """The row's metric from its plan (optionally with another chip spec, e.g. refitted efficiencies).

    server_load: 'row' predicts server rows at their load_qps (the schema's definition); 'limit' at
    the highest rate whose p99 TTFT and TPOT meet the row's limits, which is what an MLPerf Server
    result is (the submitter raises the load until the limits bind), so its throughput is
    predicted rather than copied from load_qps x output_len; 'auto': 'limit' for rows whose load is
    the benchmark's result (plan.load_is_result), 'row' otherwise.

    Why 'limit' for MLPerf: those runs sit at 80-99 % of capacity, where the iteration time is
    T = a / (1 - rho); d ln T / d ln capacity = rho / (1 - rho) = 6-8 there, so a capacity right
    to 10 % gives TPOT at the given rate to no better than a factor of ~2."""
    chip = chip or plan.chip
    if plan.mode == "server":
        return _predict_server(plan, chip, server_load)
    if plan.mode == "offline":
        return _predict_offline(plan, chip)
    else:
        s = static_batch(chip, plan.arch, plan.precision, plan.mapping, plan.workload, max(plan.batch, 1))
        if not s.fits:
            raise Skip(f"batch {plan.batch} does not fit {plan.mapping.label} on {chip.id} (max {s.max_batch})")
        values = {"system_output_tokens_per_s": s.system_tokens_per_s, "per_user_tokens_per_s": 1.0 / s.tpot_s,
                  "ttft_ms": s.ttft_s * 1e3, "tpot_ms": s.tpot_s * 1e3}
    return float(values[plan.metric])


def _serving_model(plan: Plan, chip: ChipSpec):
    """The row's deployment under continuous batching, its in-flight cap the row's batch."""
    # the dataset's spread (when the source has one), scaled to the row's mean lengths
    inputs, outputs = lengths_around(plan.traffic, plan.workload.input_len, plan.workload.output_len)
    model = ServingModel(chip, plan.arch, plan.precision, plan.mapping, inputs, outputs,
                         token_budget=plan.token_budget, max_running=plan.batch or None,
                         dispatch_window_s=plan.dispatch_window_s)
    if model.max_batch < 1:
        raise Skip(f"{plan.arch.id} does not fit {plan.mapping.label} on {chip.id} per the spec files")
    return model


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
        server_load = "limit" if plan.load_is_result else "row"
    if server_load == "limit" and (plan.ttft_limit_s is not None or plan.tpot_limit_s is not None):
        rate = model.goodput_per_s(plan.ttft_limit_s, plan.tpot_limit_s)
        if rate <= 0:
            raise Skip(f"no request rate meets the row's p99 limits on {plan.mapping.label}")
        r = model.at_rate(rate)
    else:
        r = model.at_rate(plan.load_qps)
    if not r.stable:
        raise Skip(f"at {r.rate_per_s:g} requests/s the model has no steady state on {plan.mapping.label}: {r.reason}")
    return {"system_output_tokens_per_s": r.output_tokens_per_s, "per_user_tokens_per_s": 1.0 / r.tpot_mean_s,
            "ttft_ms": r.ttft_mean_s * 1e3, "tpot_ms": r.tpot_mean_s * 1e3}[plan.metric]


@dataclass
class Report:
    rows: pd.DataFrame                       # id, hardware, family, source_group, metric, predicted, measured, ape, signed_error
    skipped: list[tuple[str, str]] = field(default_factory=list)
    server_load: str = "auto"

    def summary(self) -> dict:
        out = {"predicted": int(len(self.rows)), "skipped": len(self.skipped), "server_load": self.server_load,
               "by_metric": {}, "by_family": {}, "by_metric_family": {}}
        for key, cols in (("by_metric", ["metric"]), ("by_family", ["family"]), ("by_metric_family", ["metric", "family"])):
            for name, g in self.rows.groupby(cols):
                if key == "by_metric_family" and len(g) < 5:
                    continue
                label = "/".join(name) if isinstance(name, tuple) else name
                out[key][label] = {"n": int(len(g)), "median_ape": float(np.median(g["ape"])),
                                   "p90_ape": float(np.percentile(g["ape"], 90)),
                                   "median_signed_error": float(np.median(g["signed_error"]))}
        if len(self.rows):
            out["all"] = {"n": int(len(self.rows)), "median_ape": float(np.median(self.rows["ape"])),
                          "p90_ape": float(np.percentile(self.rows["ape"], 90))}
        return out


def run_validation(lib: Library, df: pd.DataFrame, plans: dict | None = None,
                   chip_for: Callable[[str], ChipSpec] | None = None, progress=None,
                   server_load: str = "auto") -> Report:
    """Predict every row; `plans` caches plan_row results (id -> Plan or Skip reason);
    server_load as in predict()."""
    if server_load not in SERVER_LOADS:
        raise InfersimError(f"server load '{server_load}' is not one of {', '.join(SERVER_LOADS)}")
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
            if plans is not None:
                plans[row["id"]] = exc
            skipped.append((row["id"], str(exc)))
            continue
        measured = float(row["value"])
        records.append({"id": row["id"], "hardware": row["hardware"], "family": family(row["hardware"]),
                        "source_group": source_group(str(row["source"])), "mode": row["mode"], "metric": row["metric"],
                        "predicted": pred, "measured": measured, "ape": abs(pred - measured) / measured,
                        "signed_error": (pred - measured) / measured, "mapping": plan.mapping.label,
                        "input_len_used": plan.workload.input_len, "input_len_from": plan.input_len_source})
    return Report(pd.DataFrame(records), skipped, server_load)
