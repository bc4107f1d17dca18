"""Plain-text tables for the terminal (display units are applied here)."""

from __future__ import annotations

import math

import pandas as pd

from .. import units


def _fmt(value, fmt: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return format(value, fmt)


def render(headers: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """Fixed-width table of preformatted cells (tabulate's 'simple' style: two spaces between
    columns, a dashed rule under the header); `align` has one 'l' or 'r' per column (default:
    first left, rest right)."""
    import tabulate

    tabulate.MIN_PADDING = 0  # columns as wide as their widest cell or header, no wider
    align = align or "l" + "r" * (len(headers) - 1)
    text = tabulate.tabulate(rows, headers, tablefmt="simple", disable_numparse=True,
                             colalign=[{"l": "left", "r": "right"}[a] for a in align])
    return "\n".join(line.rstrip() for line in text.splitlines())


# compare's `eff` column: where a chip's efficiencies come from (model.efficiency_prior.TIERS)
EFFICIENCY_SOURCE_SHORT = {"own rows": "own", "family fit": "family", "own spatial fit": "spatial",
                           "cross-family prior": "prior", "chip file": "file"}
EFFICIENCY_LEGEND = ("eff: where the chip's efficiencies come from: own = fitted on its own measured rows, family = "
                     "its family's fit (no rows of its own), spatial = its own spatial fit, prior = no fitted family "
                     "(the cross-family prior), file = its chip file; --uncertainty draws them from that prior, "
                     "-v prints each chip's basis")


def comparison_table(df: pd.DataFrame) -> str:
    """compare's ranked table (one row per chip, analysis.compare columns)."""
    headers = ["#", "chip", "eff", "chips (min)", "tried", "mapping", "batch", "TTFT ms", "TPOT ms", "tok/s/user",
               "tok/s/chip", "decode bound", "compute"]
    priced = "usd_per_mtok" in df.columns
    bands = "usd_per_mtok_p10" in df.columns
    if priced:
        headers += ["$/chip-h", "$/M tok"] + (["P10-P90 $/M"] if bands else [])
    rows = []
    for i, r in enumerate(df.itertuples(index=False), start=1):
        wo = "*" if r.weight_only else ""
        cost = []
        if priced:
            cost = [_fmt(r.usd_per_chip_hour, ".2f"), _fmt(r.usd_per_mtok, ".3f")]
            if bands:
                cost.append(f"{r.usd_per_mtok_p10:.3f}-{r.usd_per_mtok_p90:.3f}")
        rows.append([
            str(i), r.chip, EFFICIENCY_SOURCE_SHORT.get(r.efficiency_source, r.efficiency_source),
            f"{r.num_chips} ({r.min_chips})",
            r.chip_counts_tried, r.mapping, str(r.batch), _fmt(units.s_to_ms(r.ttft_s), ".1f"),
            _fmt(units.s_to_ms(r.tpot_s), ".2f"), _fmt(r.user_tokens_per_s, ".1f"),
            _fmt(r.tokens_per_s_per_chip, ".1f"), r.decode_bound, r.compute_dtype + wo, *cost,
        ])
    return render(headers, rows, align="rllrllrrrrrll" + "r" * (len(headers) - 13))


def operator_table_text(df: pd.DataFrame) -> str:
    headers = ["op", "layers", "GFLOP/chip", "MB/chip", "FLOP/B", "time ms", "share", "bound"]
    rows = []
    for r in df.itertuples(index=False):
        rows.append([
            r.op, f"{r.count:g}", _fmt(r.flops_per_chip / 1e9, ".2f"), _fmt(r.bytes_per_chip / 1e6, ".1f"),
            _fmt(r.intensity_flop_per_byte, ".1f"), _fmt(units.s_to_ms(r.time_s), ".3f"),
            _fmt(100 * r.time_share, ".1f") + "%", r.bound,
        ])
    return render(headers, rows, align="lrrrrrrl")


def spatial_budget_text(df: pd.DataFrame) -> str:
    """model.spatial_budget.budget_table: where a token's time goes on a spatial chip, with the basis."""
    headers = ["part", "per layer us", "per token us", "share", "basis"]
    rows = [[r.part, _fmt(r.per_layer_s * 1e6, ".2f"), _fmt(r.per_token_s * 1e6, ".1f"),
             _fmt(100 * r.share, ".1f") + "%", r.basis] for r in df.itertuples(index=False)]
    return render(headers, rows, align="lrrrl")


PERCENT_WORDS = {"change", "advantage", "prob", "utilisation", "ape"}  # whole words of a column name


def frame_table(df: pd.DataFrame, digits: int = 4, percent: list[str] | None = None) -> str:
    """Any DataFrame as a fixed-width table: floats to `digits` significant digits; the fractions
    in `percent` (default: columns whose name says they are fractions) as percentages."""
    pct = percent if percent is not None else [
        c for c in df.columns if PERCENT_WORDS & set(str(c).split("_")) or str(c).endswith("signed_error")]

    def cell(col, v):
        if isinstance(v, float):
            if not math.isfinite(v):
                return "-"
            return f"{100 * v:.1f}%" if col in pct else f"{v:.{digits}g}"
        return str(v)

    rows = [[cell(c, v) for c, v in zip(df.columns, r)] for r in df.itertuples(index=False)]
    align = "".join("r" if pd.api.types.is_numeric_dtype(df[c]) else "l" for c in df.columns)
    return render(list(df.columns), rows, align)
