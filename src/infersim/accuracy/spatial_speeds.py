"""Per-user decode speeds that spatial-chip vendors (and third parties measuring their services)
publish, predicted from the spec files; and the one fitted parameter of each spatial family.

Rows: benchmarks/accuracy/spatial_speeds.csv, the validation schema (accuracy.rows.REQUIRED)
plus `speculative_decoding` (yes / no / unknown). A row is one user's stream on the vendor's
service: its chip count, or when the source gives none the smallest deployment that holds the
model; the mapping with the lowest TPOT on that count at the row's batch (1 when empty); and the
vendor's speculative decoding ([spatial.speculative]) unless the row says `no`.

The fit: each spatial chip names one field (`spatial.fitted`) and the rows it is fitted on
(`spatial.fitted_on`). The value that makes the median log error of those rows zero is found by
bisection in log space; every other row of the chip is held out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfersimError
from ..model.configuration import Mapping, Workload, resolve_precision
from ..model.evaluate import evaluate
from ..model.mapping_search import min_chips_to_fit, search
from ..model.spatial_budget import vendor_speculation
from ..specs.chip import ChipSpec
from ..specs.library import Library
from .rows import REQUIRED, read_rows

SPEED_COLUMNS = list(REQUIRED) + ["speculative_decoding"]
SPECULATIVE_VALUES = ("yes", "no", "unknown")


def read_speed_rows(path) -> pd.DataFrame:
    """The rows, checked against the validation schema (accuracy.rows), with their
    speculative_decoding column; any invalid row is an error here (the file is ours)."""
    rows = read_rows(path)
    if rows.invalid:
        raise InfersimError(f"{path}: {rows.invalid[0]}")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "speculative_decoding" not in raw.columns:
        raise InfersimError(f"{path}: missing column speculative_decoding (yes, no or unknown)")
    bad = raw[~raw["speculative_decoding"].isin(SPECULATIVE_VALUES)]
    if len(bad):
        r = bad.iloc[0]
        raise InfersimError(f"{path}: row {r['id']}: speculative_decoding '{r['speculative_decoding']}' is not one of "
                            f"{', '.join(SPECULATIVE_VALUES)}")
    df = rows.table.merge(raw[["id", "speculative_decoding"]], on="id")
    bad = df[df["metric"] != "per_user_tokens_per_s"]
    if len(bad):
        raise InfersimError(f"{path}: row {bad.iloc[0]['id']}: only per_user_tokens_per_s rows are predicted here")
    return df


@dataclass(frozen=True)
class SpeedPrediction:
    id: str
    chip: str
    model: str
    mapping: Mapping
    chips_from: str              # 'row' or 'smallest deployment'
    speculative: bool            # the vendor's speculative decoding applied
    tokens_per_s: float
    plain_tokens_per_s: float    # without speculative decoding


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def predict_speed(lib: Library, row: dict, chip: ChipSpec | None = None) -> SpeedPrediction:
    """One row's per-user tokens/s from the spec files (`chip` replaces the library's, e.g. with a
    trial value of the fitted field)."""
    chip = chip or lib.chip(row["hardware"])
    arch = lib.architecture(row["model"])
    precision = resolve_precision(chip, row["weight_dtype"], _num(row["kv_dtype"]) or "bf16")
    workload = Workload(int(row["input_len"]), int(row["output_len"]))
    batch = int(_num(row["batch"]) or 1)
    n = _num(row["num_chips"])
    if n is None:
        n, _ = min_chips_to_fit(chip, arch, precision, workload, batch)
        src = "smallest deployment"
    else:
        n, src = int(n), "row"
    mapping = search(chip, arch, precision, workload, num_chips=n, batch=batch, objective="latency").best.mapping
    plain = evaluate(chip, arch, precision, mapping, workload, batch=batch)
    spec = None if row["speculative_decoding"] == "no" else \
        vendor_speculation(chip, arch, precision, mapping, workload, batch)
    tok_s = 1.0 / spec.tpot_s if spec is not None else plain.user_tokens_per_s
    return SpeedPrediction(row["id"], chip.id, arch.id, mapping, src, spec is not None, tok_s, plain.user_tokens_per_s)


def speed_report(lib: Library, df: pd.DataFrame, chips: dict[str, ChipSpec] | None = None) -> pd.DataFrame:
    """Every row predicted: id, hardware, model, chips, mapping, speculative, predicted, measured,
    signed error, and whether the row was used to fit its chip's parameter."""
    chips = chips or {}
    out = []
    for row in df.to_dict("records"):
        chip = chips.get(row["hardware"]) or lib.chip(row["hardware"])
        p = predict_speed(lib, row, chip)
        fitted_on = chip.spatial.fitted_on if chip.spatial is not None else []
        out.append({"id": p.id, "hardware": p.chip, "model": p.model, "num_chips": p.mapping.chips,
                    "chips_from": p.chips_from, "mapping": p.mapping.label, "speculative": p.speculative,
                    "predicted": p.tokens_per_s, "without_speculation": p.plain_tokens_per_s,
                    "measured": float(row["value"]), "signed_error": p.tokens_per_s / float(row["value"]) - 1.0,
                    "use": "fit" if p.id in fitted_on else "held out"})
    return pd.DataFrame(out)


def with_spatial_value(chip: ChipSpec, field: str, value: float) -> ChipSpec:
    """The chip with its fitted field set to `value`."""
    if field == "fabric_hop_s":
        return chip.model_copy(update={"spatial": chip.spatial.model_copy(update={"fabric_hop_s": value})})
    if field == "interconnect.scaleup_latency_s":
        net = chip.interconnect.model_copy(update={"scaleup_latency_s": value})
        return chip.model_copy(update={"interconnect": net})
    if field == "efficiency.step_overhead_s":
        return chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update={"step_overhead_s": value})})
    raise InfersimError(f"chip '{chip.id}': cannot fit spatial field '{field}'")


def current_value(chip: ChipSpec, field: str) -> float:
    return {"fabric_hop_s": lambda: chip.spatial.fabric_hop_s,
            "interconnect.scaleup_latency_s": lambda: chip.interconnect.scaleup_latency_s,
            "efficiency.step_overhead_s": lambda: chip.efficiency.step_overhead_s}[field]()


def fit_chip(lib: Library, df: pd.DataFrame, chip_id: str, lo: float = 1e-12, hi: float = 1e-3,
             iterations: int = 60) -> tuple[float, pd.DataFrame]:
    """(value, its report on the fitted rows): the value of the chip's fitted field that makes the
    median log error of its fitted_on rows zero. Larger values (latencies) make every row
    slower, so the error falls monotonically and bisection finds it."""
    chip = lib.chip(chip_id)
    sp = chip.spatial
    if sp is None or sp.fitted is None:
        raise InfersimError(f"chip '{chip_id}' names no fitted spatial field")
    rows = df[df["id"].isin(sp.fitted_on)]
    missing = set(sp.fitted_on) - set(rows["id"])
    if missing:
        raise InfersimError(f"chip '{chip_id}': spatial.fitted_on lists rows not in the data: "
                            f"{', '.join(sorted(missing))}")

    def median_log_error(v: float) -> float:
        trial = with_spatial_value(chip, sp.fitted, v)
        errs = [math.log(predict_speed(lib, r, trial).tokens_per_s / float(r["value"]))
                for r in rows.to_dict("records")]
        return float(np.median(errs))

    a, b = math.log(lo), math.log(hi)
    if median_log_error(math.exp(a)) < 0 or median_log_error(math.exp(b)) > 0:
        raise InfersimError(f"chip '{chip_id}': no {sp.fitted} in [{lo:g}, {hi:g}] matches its fitted rows")
    for _ in range(iterations):
        m = 0.5 * (a + b)
        if median_log_error(math.exp(m)) > 0:
            a = m
        else:
            b = m
    value = math.exp(0.5 * (a + b))
    fitted = with_spatial_value(chip, sp.fitted, value)
    return value, speed_report(lib, rows, {chip.id: fitted})
