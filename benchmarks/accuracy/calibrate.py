"""Calibrate the [efficiency] values of each hardware family on the measured rows; write the chip
files, the family fits (hardware_specs/efficiency/), report.md and baseline.json; report in-sample,
leave-one-source-out and leave-one-family-out error.

    python benchmarks/accuracy/calibrate.py            # fit, write, report
    python benchmarks/accuracy/calibrate.py --check    # fit and report only; write nothing

Server rows are predicted (by the serving model) but not fitted: they test it out of sample (MLPerf
Server rows at the highest rate meeting their p99 limits; see infersim.accuracy.predict.predict).
A family is fitted when family_defaults.toml has its defaults; the rows of the others (spatial
chips with one or two vendor figures) are predicted from the cross-family prior, in sample too.

Procedure (infersim.accuracy.fit): per family, least squares on log error (soft_l1 at 15 %) of
prefill compute, decode compute, memory bandwidth, interconnect, overlap loss, per-step and
per-prefill overheads (and an FP4 scale where the family has FP4 rows), weakly pulled toward
family_defaults.toml (stage 1, unpooled); then the maximum-a-posteriori refit of each family under
the cross-family prior (per parameter: the median and spread in ln units of the other families'
stage-1 fits), which pins what a family's few rows leave undetermined; the posterior covariance
from the Jacobian and the prior.

What is written, per chip (the efficiency prior's tiers, infersim.model.efficiency_prior):
- a chip with rows of its own, and a chip of a fitted family without rows: the family's values;
- a chip of no fitted family: the median of the fitted families of its kind (accelerators or CPUs),
  the centre of the cross-family prior.
Each family's file holds its values, rows, sources, covariance and the chip-to-chip spread.

Generalisation:
- leave-one-source-out: refit the families a source has rows in without it, predict its rows (a
  family left without rows is predicted from the others' prior);
- leave-one-family-out: each fitted family's rows predicted from the median of the other families'
  fits, as a chip of an unmeasured family would be.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from infersim.accuracy.fit import (
    DEFAULT_SD_LOG, MIN_PRIOR_SD_LOG, PARAMS, chip_spread, fit_all, leave_one_family_out, leave_one_source_out, prior_centre, summarise, usable_rows,
    with_efficiency,
)
from infersim.accuracy.predict import read_rows, run_validation
from infersim.accuracy.sources import FAMILIES, family
from infersim.specs.library import Library

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = HERE / "calibration.csv"
EFFICIENCY_DIR = REPO / "hardware_specs" / "efficiency"


DOC_TEMPLATE = """<!-- written by benchmarks/accuracy/calibrate.py on {date}: do not edit; rerun the calibration -->
### The data

{n_rows} rows, {n_pred} predicted, {n_skip} not predicted (reasons below). By source:

{sources}

### The fits

Per family, the fitted values (the full covariance is in `hardware_specs/efficiency/<family>.toml`):

{fits}

A chip's bias about its family's fit (sd over chips with at least three fitted rows): {spread:.3f} in ln units.

### In sample

By metric:

{in_metric}
By hardware family:

{in_family}
By mode:

{in_mode}
### Leave one source out

By metric:

{loso_metric}
By held-out source:

{loso_source}
By family:

{loso_family}
### Leave one family out

By metric:

{lofo_metric}
By held-out family:

{lofo_family}
By held-out family and metric:

{lofo_metric_family}
### Not predicted

{skipped}
"""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def family_kinds(lib: Library) -> dict[str, str]:
    """Family -> 'cpu' or 'accelerator', from the kind of its chips in the library."""
    kinds: dict[str, str] = {}
    for cid in lib.ids("chip"):
        kinds.setdefault(family(cid), "cpu" if lib.chip(cid).kind == "cpu" else "accelerator")
    return kinds


def _fmt(k: str, v: float) -> str:
    return f"{v:.3g}" if k.endswith("_s") else f"{v:.3f}"


def efficiency_block(params: dict, how: str, basis: str, fitted_on: list[str], usable_line: str | None,
                     fixed: tuple[str, ...] = ()) -> str:
    lines = ["[efficiency]"]
    for k, v in params.items():
        note = "family default, not fitted (reason in benchmarks/accuracy/family_defaults.toml)" if k in fixed else how
        lines.append(f"{k} = {_fmt(k, v)}  # {note}")
    lines.append(usable_line or "usable_memory_fraction = 0.90  # family default (assumption): not fitted "
                                "(no row constrains it)")
    lines.append(f'basis = "{basis}"')
    lines.append("fitted_on = [" + ", ".join(f'"{r}"' for r in fitted_on) + "]")
    return "\n".join(lines) + "\n\n"


def member_kinds_of(lib: Library, rows: pd.DataFrame) -> dict[str, set[str]]:
    """Family -> the kinds (gpu, asic, lpu_sram...) of its chips with fitted rows."""
    return {fam: {lib.chip(h).kind for h in g["hardware"].unique()} for fam, g in rows.groupby("family")}


def write_chip_files(lib: Library, fits: dict, rows: pd.DataFrame, kinds: dict[str, str], date: str) -> list[Path]:
    """Every chip's [efficiency]: its family's fit (a chip of the family's kinds), or the cross-family
    prior's centre."""
    by_chip = rows.groupby("hardware")["id"].apply(list).to_dict()
    member_kinds = member_kinds_of(lib, rows)
    written = []
    for cid in lib.ids("chip"):
        chip = lib.chip(cid)
        if chip.spatial is not None:
            continue   # a spatial chip's values are its own fit's (benchmarks/accuracy/spatial_fit.py)
        fam = family(cid)
        kind = "cpu" if chip.kind == "cpu" else "accelerator"
        path = lib.path("chip", cid)
        text = path.read_text()
        m = re.search(r"^\[efficiency\]\n(.*?)(?=^\[|\Z)", text, flags=re.S | re.M)
        if not m:
            sys.exit(f"{path}: no [efficiency] table to update")
        usable = re.search(r"^usable_memory_fraction = .*$", m.group(1), flags=re.M)
        usable_line = usable.group(0) if usable else None
        if fam in fits and kinds.get(fam) == kind and chip.kind in member_kinds.get(fam, ()):
            fit = fits[fam]
            own = by_chip.get(cid, [])
            mine = f"{len(own)} of them on this chip" if own else "none on this chip: it takes its family's values"
            basis = (f"fitted on {len(fit.rows)} rows of benchmarks/accuracy/calibration.csv for family {fam} ({mine}); "
                     "maximum a posteriori on log error under the cross-family prior of the other families' fits "
                     f"(its centre, spread and families in hardware_specs/efficiency/{fam}.toml [prior]); "
                     f"uncertainty in hardware_specs/efficiency/{fam}.toml")
            block = efficiency_block(fit.params, f"fitted ({date}): family '{fam}', benchmarks/accuracy/calibrate.py",
                                     basis, fit.rows, usable_line, fit.fixed)
        else:
            centre = prior_centre(fits, kinds, kind)
            peers = sorted(f for f in fits if kinds.get(f) == kind) or sorted(fits)
            centre = {k: v for k, v in centre.items() if k in PARAMS or (k == "fp4_compute_scale"
                                                                          and chip.efficiency.fp4_compute_scale)}
            # a value the chip file takes from a source of its own (a [Sn] citation) or from a fit of its own
            # (e.g. the spatial chips' step overhead, benchmarks/accuracy/spatial_fit.py) stays
            sourced = {k: line for k, line in re.findall(r"^(\w+) = (.*(?:\[S\d+\]|# fitted).*)$", m.group(1),
                                                         flags=re.M) if k in centre}
            kept = f"; {', '.join(sorted(sourced))} from the chip's own sources or fit" if sourced else ""
            basis = (f"cross-family prior (derived {date}): no fitted family for this chip, so each value is the "
                     f"median of the {kind} family fits ({', '.join(peers)}){kept}; the spread is in "
                     "hardware_specs/efficiency/ and model/efficiency_prior.py")
            block = efficiency_block(centre, f"derived ({date}): median of the {kind} family fits", basis, [],
                                     usable_line)
            for k, rest in sourced.items():
                block = re.sub(rf"^{k} = .*$", f"{k} = {rest}", block, flags=re.M)
        path.write_text(text[: m.start()] + block + text[m.end():])
        written.append(path)
    return written


def write_family_files(lib: Library, fits: dict, rows: pd.DataFrame, kinds: dict[str, str], spread: float,
                       date: str) -> list[Path]:
    EFFICIENCY_DIR.mkdir(exist_ok=True)
    member_kinds = member_kinds_of(lib, rows)
    written = []
    for fam, fit in fits.items():
        g = rows[rows["family"] == fam]
        prefixes = [p for p, name in FAMILIES if name == fam]
        order = [k for k in fit.params if k not in fit.fixed and k in fit.sd_log]
        cov = fit.cov_log if fit.cov_log is not None else np.diag([fit.sd_log[k] ** 2 for k in order])
        sources = sorted(set(g["source_group"]))
        per_source = g["source_group"].value_counts().to_dict()
        lines = [f"# Calibration fit of the '{fam}' hardware family: written by benchmarks/accuracy/calibrate.py ({date}).",
                 "# Do not edit by hand: rerun the calibration. Read by infersim.model.efficiency_prior.",
                 "schema_version = 1", f'id = "{fam}"', f'name = "{fam} (calibration family)"',
                 f'kind = "{kinds.get(fam, "accelerator")}"',
                 "chip_kinds = [" + ", ".join(f'"{k}"' for k in sorted(member_kinds.get(fam, ()))) + "]",
                 "chip_prefixes = [" + ", ".join(f'"{p}"' for p in prefixes) + "]",
                 "fitted = [" + ", ".join(f'"{k}"' for k in order) + "]",
                 "param_order = [" + ", ".join(f'"{k}"' for k in order) + "]",
                 "# covariance_log: derived from the fit's Jacobian [S1]\n"
                 "covariance_log = [" + ", ".join("[" + ", ".join(f"{x:.6g}" for x in row) + "]"
                                                  for row in np.asarray(cov).reshape(len(order), len(order))) + "]",
                 f"chip_sd_log = {spread:.4f}  # derived: sd over chips (all families, >= 3 rows each) of the median "
                 "ln(predicted/measured) under their family fit",
                 "chips_with_rows = [" + ", ".join(f'"{c}"' for c in sorted(set(g["hardware"]))) + "]",
                 "sources = [" + ", ".join(f'"{s}"' for s in sources) + "]",
                 "fitted_on = [" + ", ".join(f'"{r}"' for r in fit.rows) + "]",
                 'notes = "Values: the maximum-a-posteriori fit (soft_l1 least squares on log error, rows of sd 0.15 ln, '
                 'plus the Gaussian prior in [prior]); covariance_log: the posterior covariance (ln units, Gauss-Newton '
                 'at the solution, with the prior\'s information); parameters not in param_order kept their family '
                 'default."',
                 "", "[values]"]
        lines += [f"{k} = {_fmt(k, v)}  # " + ("family default, not fitted [S1]" if k in fit.fixed else "fitted [S1]")
                  for k, v in fit.params.items()]
        lines += prior_lines(fit)
        lines += ["", "[rows_per_source]  # counts of the fitted rows [S1]"] + [f'"{k}" = {v}  # [S1]'
                                                                                for k, v in per_source.items()]
        lines += ["", "[provenance]", "sources = [",
                  f'  {{ id = "S1", title = "benchmarks/accuracy/calibration.csv: {len(fit.rows)} rows of family {fam} '
                  f'({", ".join(sources)})", url = "benchmarks/accuracy/calibration.csv", retrieved = "{date}" }},',
                  f'  {{ id = "S2", title = "the unpooled fits of the other families (stage 1 of '
                  f'benchmarks/accuracy/calibrate.py, same run, same data)", url = "hardware_specs/efficiency/", '
                  f'retrieved = "{date}" }},', "]"]
        path = EFFICIENCY_DIR / f"{fam}.toml"
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    for stale in EFFICIENCY_DIR.glob("*.toml"):
        if stale.stem not in fits:
            stale.unlink()
    return written


def prior_lines(fit) -> list[str]:
    """The [prior] table of a family file: what the MAP fit was pulled toward, and from which families."""
    p = fit.prior
    if p is None:
        return []
    weak = [k for k in fit.params if k not in fit.fixed and k not in p.sd_log]
    out = ["", "[prior]  # derived: the cross-family prior of this family's MAP fit (infersim.accuracy.fit) [S2]",
           'method = "maximum a posteriori: per parameter a Gaussian prior on ln(value), centre the median and sd the '
           'spread (ddof 1, at least ' f'{MIN_PRIOR_SD_LOG}' ' ln) of the unpooled fits of the other families of its kind; '
           'an overhead (a serving stack\'s, not shared across families) or a parameter with fewer than two such families keeps a weak pull (sd ' f'{DEFAULT_SD_LOG}' ' ln) to '
           'benchmarks/accuracy/family_defaults.toml"',
           "weak_pull_only = [" + ", ".join(f'"{k}"' for k in weak) + "]",
           "", "[prior.centre]  # derived [S2]"]
    out += [f"{k} = {_fmt(k, v) if not k.endswith('_s') else f'{v:.4g}'}  # [S2]" for k, v in p.centre.items()]
    out += ["", "[prior.sd_log]  # derived [S2]"] + [f"{k} = {v:.4f}  # [S2]" for k, v in p.sd_log.items()]
    out += ["", "[prior.families]  # the families each centre and sd come from [S2]"]
    out += [f"{k} = [" + ", ".join(f'"{f}"' for f in v) + "]" for k, v in p.families.items()]
    out += ["", "[prior.unpooled]  # derived: this family's own fit without the prior (stage 1) [S2]"]
    out += [f"{k} = {_fmt(k, v) if not k.endswith('_s') else f'{v:.4g}'}  # [S2]" for k, v in fit.unpooled.items()
            if k not in fit.fixed]
    return out


def table(df: pd.DataFrame, by: list[str]) -> str:
    if df.empty:
        return "(no rows)"
    t = summarise(df, by)
    for c in ("median_ape", "p90_ape"):
        t[c] = (100 * t[c]).map(lambda v: f"{v:.1f}%")
    return t.to_string(index=False)


def records(df: pd.DataFrame, by: list[str]) -> list[dict]:
    return summarise(df, by).to_dict("records") if len(df) else []


GATE_MEDIAN = 0.02   # a metric's median APE may grow by at most 2 percentage points over the baseline
GATE_P90 = 0.05      # and its P90 by 5


def gate(in_sample: pd.DataFrame, loso: pd.DataFrame, lofo: pd.DataFrame) -> int:
    """Compare each metric's median and P90 APE with the committed baseline; 1 if any grew too much."""
    base = json.loads((HERE / "baseline.json").read_text())
    now = {"in sample": summarise(in_sample, ["metric"]), "leave-one-source-out": summarise(loso, ["metric"]),
           "leave-one-family-out": summarise(lofo, ["metric"])}
    then = {"in sample": pd.DataFrame([{"metric": m, **v} for m, v in base["summary"]["by_metric"].items()]),
            "leave-one-source-out": pd.DataFrame(base["leave_one_source_out"]["by_metric"]),
            "leave-one-family-out": pd.DataFrame(base["leave_one_family_out"]["by_metric"])}
    failed = []
    print("\ngate: median / P90 APE per metric, now vs baseline.json")
    for kind, t in now.items():
        b = then[kind].set_index("metric")
        for r in t.itertuples(index=False):
            if r.metric not in b.index:
                continue
            bm, bp = b.loc[r.metric, "median_ape"], b.loc[r.metric, "p90_ape"]
            bad = r.median_ape > bm + GATE_MEDIAN or r.p90_ape > bp + GATE_P90
            print(f"  {kind:<22} {r.metric:<28} median {100 * r.median_ape:5.1f}% (baseline {100 * bm:5.1f}%)  "
                  f"P90 {100 * r.p90_ape:5.1f}% (baseline {100 * bp:5.1f}%)" + ("  WORSE" if bad else ""))
            if bad:
                failed.append(f"{kind} {r.metric}")
    if failed:
        print("gate failed: " + "; ".join(failed) + " (rerun calibrate.py and commit baseline.json only if the "
              "change is intended and explained)")
        return 1
    print("gate passed")
    return 0


def md_table(df: pd.DataFrame, by: list[str], names: dict[str, str] | None = None) -> str:
    """A markdown table of n / median / P90 absolute percentage error (and the signed median)."""
    if df.empty:
        return "(no rows)\n"
    g = df.groupby(by)
    t = pd.DataFrame({"n": g.size(), "median APE": g["ape"].median(), "P90 APE": g["ape"].quantile(0.9)})
    if "signed_error" in df.columns:
        t["median signed"] = g["signed_error"].median()
    t = t.reset_index()
    cols = [names.get(c, c) if names else c for c in t.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" if i < len(by) else "---:" for i in range(len(cols))) + "|"]
    for r in t.itertuples(index=False):
        cells = []
        for c, v in zip(t.columns, r):
            cells.append(f"{100 * v:.1f} %" if c in ("median APE", "P90 APE", "median signed") else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(df: pd.DataFrame, after, loso: pd.DataFrame, lofo: pd.DataFrame, fits: dict, spread: float,
                 date: str) -> Path:
    """benchmarks/accuracy/report.md: the data, the fits and the error tables (docs/src/accuracy.md
    includes it; docs/regenerate.py renders docs/accuracy.md)."""
    from infersim.accuracy.sources import source_group

    rows = after.rows
    counts = df.assign(source_group=df["source"].astype(str).map(source_group), family=df["hardware"].map(family))
    src = counts.groupby("source_group").agg(rows=("id", "size"), families=("family", lambda x: ", ".join(sorted(set(x)))))
    src_lines = ["| source | rows | families |", "|---|---:|---|"] + \
        [f"| {k} | {v.rows} | {v.families} |" for k, v in src.sort_values("rows", ascending=False).iterrows()]
    skipped = pd.Series([why for _, why in after.skipped], dtype=str)
    reasons = skipped.str.replace(r"[0-9][0-9.]*", "N", regex=True).str.slice(0, 90).value_counts()
    skip_lines = ["| rows | reason (numbers replaced by N) |", "|---:|---|"] + [f"| {n} | {r} |" for r, n in reasons.items()]
    fit_lines = ["| family | rows | " + " | ".join(PARAMS) + " |", "|---|---:|" + "---:|" * len(PARAMS)]
    for fam, f in fits.items():
        fit_lines.append(f"| {fam} | {len(f.rows)} | " + " | ".join(_fmt(k, f.params[k]) for k in PARAMS) + " |")
    text = DOC_TEMPLATE.format(
        date=date, n_rows=len(df), n_pred=len(rows), n_skip=len(after.skipped), sources="\n".join(src_lines),
        fits="\n".join(fit_lines), spread=spread,
        in_metric=md_table(rows, ["metric"]), in_family=md_table(rows, ["family"]), in_mode=md_table(rows, ["mode"]),
        loso_metric=md_table(loso, ["metric"]), loso_source=md_table(loso, ["held_out_source"], {"held_out_source": "held-out source"}),
        loso_family=md_table(loso, ["family"]),
        lofo_metric=md_table(lofo, ["metric"]), lofo_family=md_table(lofo, ["held_out_family"], {"held_out_family": "held-out family"}),
        lofo_metric_family=md_table(lofo, ["held_out_family", "metric"], {"held_out_family": "held-out family"}),
        skipped="\n".join(skip_lines))
    path = HERE / "report.md"
    path.write_text(text)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fit and report only; write nothing")
    ap.add_argument("--gate", action="store_true",
                    help="fit and compare in-sample, leave-one-source-out and leave-one-family-out error with "
                         "baseline.json; exit 1 if any metric's median grew by more than GATE_MEDIAN (P90: GATE_P90)")
    ap.add_argument("--fit-moe", action="store_true",
                    help="also fit the rows of mixture-of-experts models (by default they are predicted, not fitted: "
                         "their expert-parallel physics must hold before their rows may move dense-model efficiencies)")
    args = ap.parse_args()
    start = time.time()
    lib = Library(use_env=False)
    priors = tomllib.loads((HERE / "family_defaults.toml").read_text())
    kinds = family_kinds(lib)
    df = read_rows(DATA).table
    plans: dict = {}
    # plans (mapping, batch, lengths) come from the family defaults, so the fit does not move them
    default_chip = {cid: with_efficiency(lib.chip(cid), priors[family(cid)]) for cid in lib.ids("chip")
                    if family(cid) in priors}
    before = run_validation(lib, df, plans, chip_for=lambda h: default_chip.get(h) or lib.chip(h))
    usable = usable_rows(df, plans)
    fitted_families = set(priors)
    moe = usable["id"].map(lambda i: plans[i].arch.is_moe)
    fit_me = (usable["mode"] != "server") & usable["family"].isin(fitted_families) & (args.fit_moe | ~moe)
    rows, predicted_only = usable[fit_me], usable[~fit_me]
    _log(f"{len(rows)} fitted rows of {len(df)} ({len(predicted_only)} predicted only); fitting per family ...")
    fits = fit_all(lib, plans, rows, priors, progress=lambda f: _log(f"  {f} ({time.time() - start:.0f} s)"),
                   kinds=kinds)
    spread = chip_spread(plans, rows, fits)
    date = datetime.date.today().isoformat()

    member_kinds = member_kinds_of(lib, rows)

    def chip_now(h: str):
        fam, chip = family(h), lib.chip(h)
        if chip.spatial is not None:
            return chip   # its values are its own spatial fit's
        kind = "cpu" if chip.kind == "cpu" else "accelerator"
        member = fam in fits and kinds.get(fam) == kind and chip.kind in member_kinds.get(fam, ())
        return with_efficiency(chip, fits[fam].params if member else prior_centre(fits, kinds, kind))

    cache: dict = {}
    after = run_validation(lib, df, plans, chip_for=lambda h: cache.setdefault(h, chip_now(h)))
    _log(f"leave-one-source-out ... ({time.time() - start:.0f} s)")
    loso = leave_one_source_out(lib, plans, rows, priors, predicted_only, kinds, fits,
                                progress=lambda s: _log(f"  {s} ({time.time() - start:.0f} s)"))
    lofo = leave_one_family_out(plans, pd.concat([rows, predicted_only[predicted_only["family"].isin(list(fits))]]),
                                fits, kinds)

    print("fitted efficiencies (chip-to-chip spread within a family: %.3f ln)" % spread)
    for fam, f in fits.items():
        print(f"  {fam:<15} " + "  ".join(f"{k}={v:.3g}" for k, v in f.params.items()) + f"  ({len(f.rows)} rows)")
        if f.prior is not None:
            print(f"  {'  unpooled':<15} " + "  ".join(f"{k}={v:.3g}" for k, v in f.unpooled.items()))
    for label, rep in (("family defaults (before)", before), ("fitted, in sample", after)):
        print(f"\n{label}: median / P90 absolute percentage error")
        print(table(rep.rows, ["metric"]))
        print(table(rep.rows, ["family"]))
    print("\nleave-one-source-out (refit without the source, predict it)")
    print(table(loso, ["metric"]))
    print(table(loso, ["held_out_source"]))
    print(table(loso, ["family"]))
    print("\nleave-one-family-out (a family predicted from the other families' fits)")
    print(table(lofo, ["metric"]))
    print(table(lofo, ["held_out_family"]))
    print(f"\nnot predicted: {len(after.skipped)} of {len(df)} rows")
    _log(f"done in {time.time() - start:.0f} s")
    if args.gate:
        return gate(after.rows, loso, lofo)
    if args.check:
        return 0
    written = write_chip_files(lib, fits, rows, kinds, date) + write_family_files(lib, fits, rows, kinds, spread, date)
    written.append(write_report(df, after, loso, lofo, fits, spread, date))
    baseline = {"data": "benchmarks/accuracy/calibration.csv", "rows": len(df), "summary": after.summary(),
                "leave_one_source_out": {"by_metric": records(loso, ["metric"]),
                                         "by_source": records(loso, ["held_out_source"]),
                                         "by_family": records(loso, ["family"]),
                                         "by_metric_family": records(loso, ["metric", "family"])},
                "leave_one_family_out": {"by_metric": records(lofo, ["metric"]),
                                         "by_family": records(lofo, ["held_out_family"]),
                                         "by_metric_family": records(lofo, ["metric", "family"])},
                "chip_sd_log": spread, "family_defaults_summary": before.summary()}
    (HERE / "baseline.json").write_text(json.dumps(baseline, indent=2, default=float) + "\n")
    print(f"\nwrote {len(written)} files and {HERE / 'baseline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
