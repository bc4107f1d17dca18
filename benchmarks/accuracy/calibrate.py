"""Calibrate the [efficiency] values of each hardware family on the measured rows, and report
in-sample and leave-one-source-out error.

    python benchmarks/accuracy/calibrate.py            # fit, write chip files, baseline.json, report
    python benchmarks/accuracy/calibrate.py --check    # fit and report only; write nothing

Server rows are predicted (by the serving model) but not fitted: they test it out of sample. MLPerf
Server rows are predicted at the highest rate that meets their p99 limits (their load is the
benchmark's result; see infersim.accuracy.predict.predict), and take part in leave-one-source-out
as predicted rows of their source.

Procedure (see infersim.accuracy.fit): per family, seven parameters (prefill compute,
decode compute, memory bandwidth, interconnect, overlap loss, per-step and per-prefill overhead;
plus an FP4 scale where the family has FP4 rows) minimise the squared log error over that
family's predictable rows, weakly pulled toward family_defaults.toml.

Where the fit is written: a chip with rows of its own gets its family's fitted values. A chip
without rows gets them only when the family's fit rests on at least MIN_SOURCES independent
sources; otherwise it keeps the family default and its file says why. One source on one chip
(e.g. JetStream-PyTorch 2024 on TPU v5e, which the data's README asks to weigh lightly) measures
that chip and that software stack, not a later generation.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import tomllib
from pathlib import Path

import pandas as pd


from infersim.specs.library import Library
from infersim.accuracy.fit import fit_all, leave_one_source_out, summarise, usable_rows, with_efficiency
from infersim.accuracy.predict import family, read_rows, run_validation

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DATA = HERE / "calibration.csv"
MIN_SOURCES = 2


def efficiency_block(params: dict, fam: str, rows: list[str], own: list[str], date: str, old_overhead_note: str,
                     fixed: tuple[str, ...] = ()) -> str:
    lines = ["[efficiency]"]
    for k in params:
        v = params[k]
        value = f"{v:.3g}" if k.endswith("_s") else f"{v:.3f}"
        how = "family default, not fitted (reason in benchmarks/accuracy/family_defaults.toml)" if k in fixed \
            else f"fitted ({date}): family '{fam}', benchmarks/accuracy/calibrate.py"
        lines.append(f"{k} = {value}  # {how}")
    lines.append("usable_memory_fraction = 0.90  # family default (assumption): not fitted (no row constrains it)"
                 if old_overhead_note is None else old_overhead_note)
    mine = f"{len(own)} of them on this chip" if own else "none on this chip: it takes its family's values"
    lines.append(f'basis = "fitted on {len(rows)} rows of benchmarks/accuracy/calibration.csv for family {fam} '
                 f'({mine}); least squares on log error, weak prior to benchmarks/accuracy/family_defaults.toml"')
    lines.append("fitted_on = [" + ", ".join(f'"{r}"' for r in rows) + "]")
    return "\n".join(lines) + "\n"


def default_block_note(text: str, fam: str, sources: set[str], chips: set[str]) -> str:
    """Keep a chip's default [efficiency] values, saying why the family fit was not applied."""
    m = re.search(r'^basis = ".*"$', text, flags=re.M)
    reason = (f"family default (assumption): not fitted; family {fam} has rows only from "
              f"{', '.join(sorted(sources))} on {', '.join(sorted(chips))}, too narrow to carry to this chip")
    return text[: m.start()] + f'basis = "{reason}"' + text[m.end():]


def write_chip_files(lib: Library, fits: dict, rows: "pd.DataFrame") -> list[Path]:
    date = datetime.date.today().isoformat()
    rows_by_chip = rows.groupby("hardware")["id"].apply(list).to_dict()
    written = []
    for cid in lib.ids("chip"):
        fam = family(cid)
        if fam not in fits:
            continue
        fit = fits[fam]
        fam_rows = rows[rows["family"] == fam]
        sources, chips = set(fam_rows["source_group"]), set(fam_rows["hardware"])
        path = lib.path("chip", cid)
        text = path.read_text()
        m = re.search(r"^\[efficiency\]\n(.*?)(?=^\[|\Z)", text, flags=re.S | re.M)
        if not m:
            sys.exit(f"{path}: no [efficiency] table to update")
        own = rows_by_chip.get(cid, [])
        if not own and len(sources) < MIN_SOURCES:
            path.write_text(text[: m.start()] + default_block_note(m.group(0), fam, sources, chips) + text[m.end():])
            written.append(path)
            continue
        usable = re.search(r"^usable_memory_fraction = .*$", m.group(1), flags=re.M)
        block = efficiency_block(fit.params, fam, fit.rows, own, date, usable.group(0) if usable else None, fit.fixed)
        path.write_text(text[: m.start()] + block + text[m.end():])
        written.append(path)
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fit and report only; write nothing")
    args = ap.parse_args()
    lib = Library(use_env=False)
    priors = tomllib.loads((HERE / "family_defaults.toml").read_text())
    df = read_rows(DATA).table
    plans: dict = {}
    # plans (mapping, batch, lengths) come from the family defaults, so the fit does not move them
    default_chip = {cid: with_efficiency(lib.chip(cid), priors[family(cid)]) for cid in lib.ids("chip")
                    if family(cid) in priors}
    before = run_validation(lib, df, plans, chip_for=lambda h: default_chip.get(h) or lib.chip(h))
    # server rows test the serving model (queueing under load) out of sample: they are not fitted
    usable = usable_rows(df, plans)
    rows, server_rows = usable[usable["mode"] != "server"], usable[usable["mode"] == "server"]
    print(f"{len(rows)} fitted rows (server rows excluded) of {len(df)}; fitting per family ...", file=sys.stderr)
    fits = fit_all(lib, plans, rows, priors, progress=lambda f: print(f"  {f}", file=sys.stderr))
    fitted_chip = {cid: with_efficiency(lib.chip(cid), fits[family(cid)].params) for cid in lib.ids("chip")
                   if family(cid) in fits}
    after = run_validation(lib, df, plans, chip_for=lambda h: fitted_chip.get(h) or lib.chip(h))
    print("leave-one-source-out ...", file=sys.stderr)
    loso = leave_one_source_out(lib, plans, rows, priors, predicted_only=server_rows)

    print("\nfitted efficiencies")
    for fam, f in fits.items():
        print(f"  {fam:<12} " + "  ".join(f"{k}={v:.3g}" for k, v in f.params.items()) + f"  ({len(f.rows)} rows)")
    for label, rep in (("family defaults (before)", before), ("fitted, in-sample", after)):
        print(f"\n{label}: median / P90 absolute percentage error")
        print(summarise(rep.rows, ["metric"]).to_string(index=False))
        print(summarise(rep.rows, ["family"]).to_string(index=False))
    print("\nleave-one-source-out (fit on every other source, predict this one)")
    print(summarise(loso, ["held_out_source"]).to_string(index=False))
    print(summarise(loso, ["metric"]).to_string(index=False))
    if args.check:
        return 0
    written = write_chip_files(lib, fits, rows)
    baseline = {"data": "benchmarks/accuracy/calibration.csv", "summary": after.summary(),
                "leave_one_source_out": {
                    "by_source": summarise(loso, ["held_out_source"]).to_dict("records"),
                    "by_metric": summarise(loso, ["metric"]).to_dict("records")},
                "family_defaults_summary": before.summary()}
    (HERE / "baseline.json").write_text(json.dumps(baseline, indent=2, default=float) + "\n")
    print(f"\nwrote {len(written)} chip files and {HERE / 'baseline.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
