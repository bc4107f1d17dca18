"""Re-run what the README quotes and put the fresh output in place, so its examples stay copies of
real runs after a change to the model, a spec file or a calibration.

    bash docs/regenerate.sh && python docs/refresh_readme.py          # rewrites README.md

Timings in the outputs (sweep rates) change from run to run; read the diff before committing.

What it refreshes (every other block is left as it is, and listed):
- a ```text block that starts with `$ infersim ...`: each `$` command is run again and its output
  replaces the lines up to the next `$` line (commands in SKIP are left alone: too long to re-run);
- the block right after set-up command (a): the output of `infersim compare --model llama-3.1-70b`;
- a table quoting a scenario's headline (the scenario id in backticks in the 8 lines above it): the
  same columns and the same rows (matched on its leading string columns; a table of the scenario's
  first N rows takes its first N in their current order), from docs/scenarios/<id>/headline.csv;
- prose equal to a scenario's summary.txt as committed (git HEAD) becomes the regenerated one.
The accuracy tables ("How accurate is it?") come from validate and calibrate runs; they are listed
as not refreshed, to be updated by hand from those runs.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

from infersim.report.tables import frame_table

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = ("infersim sweep billion-points",)
SETUP_A = "infersim compare --model llama-3.1-70b"


def run(command: str) -> list[str]:
    out = subprocess.run(shlex.split(command), cwd=REPO, capture_output=True, text=True)
    text = (out.stdout + (out.stderr if out.returncode else "")).rstrip("\n")
    return text.splitlines()


def refresh_commands(body: list[str]) -> list[str]:
    new, i = [], 0
    while i < len(body):
        line = body[i]
        j = i + 1
        while j < len(body) and not body[j].startswith("$ "):
            j += 1
        cmd = line[2:]
        new.append(line)
        new += body[i + 1:j] if cmd.startswith(SKIP) else run(cmd)
        if j < len(body) and new[-1] != "":
            new.append("")       # a blank line before the next command
        i = j
    return new


def refresh_scenario_table(scenario: str, body: list[str]) -> list[str] | None:
    path = REPO / "docs" / "scenarios" / scenario / "headline.csv"
    if not path.exists() or len(body) < 3:
        return None
    df = pd.read_csv(path)
    cols = body[0].split()
    if not set(cols) <= set(df.columns):
        return None
    keys = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    wanted = [tuple(re.split(r"\s{2,}", row.strip())[:len(keys)]) for row in body[2:]]
    index = {tuple(str(v) for v in r): k for k, r in zip(df.index, df[keys].itertuples(index=False))}
    if not all(w in index for w in wanted):
        if len(wanted) != len(df):    # the whole table, keyed on a number: the rows in their order
            return None
        return frame_table(df[cols], percent=_percent_columns(cols, body)).splitlines()
    rows = [index[w] for w in wanted]
    head = list(df.index[:len(rows)])
    if set(rows) == set(head):       # a "top N" of the scenario: its first N rows in its current order
        rows = head
    return frame_table(df.loc[rows, cols], percent=_percent_columns(cols, body)).splitlines()


def _percent_columns(cols: list[str], body: list[str]) -> list[str] | None:
    """The columns the README shows as percentages (None: let frame_table decide by name)."""
    cells = re.split(r"\s{2,}", body[2].strip())
    return [c for c, v in zip(cols, cells) if v.endswith("%")] if len(cells) == len(cols) else None


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    lines = README.read_text().splitlines()
    summaries = {p.parent.name: p.read_text().strip() for p in (REPO / "docs" / "scenarios").glob("*/summary.txt")}
    out, i, left = [], 0, []
    while i < len(lines):
        if lines[i] != "```text":
            out.append(lines[i])
            i += 1
            continue
        end = lines.index("```", i + 1)
        body = lines[i + 1:end]
        above = "\n".join(lines[max(0, i - 8):i])
        new = None
        if body and body[0].startswith("$ infersim"):
            new = refresh_commands(body)
        elif "Output of (a)" in above:
            new = run(SETUP_A)
        else:
            ids = re.findall(r"`([a-z0-9-]+)`", above)
            scenario = next((s for s in reversed(ids) if s in summaries), None)
            if scenario:
                new = refresh_scenario_table(scenario, body)
        if new is None:
            left.append(f"line {i + 1}: {body[0][:70] if body else '(empty)'}")
            new = body
        out += ["```text", *new, "```"]
        i = end + 1
    text = "\n".join(out) + "\n"
    for scenario, summary in summaries.items():
        committed = subprocess.run(["git", "show", f"HEAD:docs/scenarios/{scenario}/summary.txt"], cwd=REPO,
                                   capture_output=True, text=True).stdout.strip()
        if committed and committed != summary:
            text = text.replace(committed, summary)
    changed = text != README.read_text()
    README.write_text(text)
    print(f"README.md {'rewritten' if changed else 'unchanged'}; blocks not refreshed (update by hand):")
    for item in left:
        print("  " + item)
    return 0


if __name__ == "__main__":
    sys.exit(main())
