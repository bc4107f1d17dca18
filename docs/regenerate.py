"""Regenerate every output quoted in README.md and the documentation pages, and every number their
prose states, from real runs: the pages are written from templates in docs/src/.

    python docs/regenerate.py           # re-run everything, rewrite README.md and docs/*.md
    python docs/regenerate.py --check   # the same, but only report pages that would change (exit 1)

Run it from the repository root after a change to the model, a spec file or a calibration, and
commit what changed. Running it twice gives no diff: every quoted run is deterministic (Monte
Carlo draws are seeded), and the one figure that varies run to run, a sweep's wall time and
memory, is replaced by "[time and memory vary]" in the quote.

Template syntax (docs/src/*.md; docs/src/README.md becomes README.md at the root):
- a fenced block tagged `run` holds `infersim ...` or `python ...` commands, one a line: each is
  run (COLUMNS=100, so help text wraps the same everywhere) and the block becomes a `text` block
  of `$ command` lines and what each printed (stdout; stderr too when it fails);
- a fenced block tagged `python-session` holds Python lines run in one fresh interpreter, as a
  notebook runs them: it becomes a `pycon` block of `>>>` lines and what each displayed;
- `{{name}}` is replaced by FACTS[name](): a number or phrase derived from a run or a file
  written by one (functions below), so prose and numbers cannot drift apart;
- `{{table:PATH|col,col,...|N}}` is the first N rows of a CSV written by a quoted run (all rows
  without N), as infersim prints tables, `{{text:PATH}}` the text of such a file, and
  `{{question:ID}}` the question a scenario file asks.
Before the pages, ARTIFACTS re-runs the commands whose files the pages quote (scenarios, the sweep,
the frontier and the roofline figures).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "docs" / "src"
ENV = {**os.environ, "COLUMNS": "100", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
VARYING = [(re.compile(r", [\d.]+ s \([\d.]+ M points/s\), peak memory \d+ MB"), ", [time and memory vary]")]
SCENARIO_IDS = ("asic-tco-advantage", "asic-tco-advantage-same-efficiency", "cpu-only", "decode-bandwidth-bottleneck",
                "hbm-price-shock", "lpu-latency-vs-cost", "power-limited-site", "tiered-serving", "migration-cases",
                "optics-per-accelerator", "time-to-power")
ARTIFACTS = [
    *(f"infersim scenario run {s} -o docs/scenarios/{s} -q" for s in SCENARIO_IDS),
    "infersim sweep hbm-bandwidth-what-if -o docs/sweeps/hbm-bandwidth-what-if.csv "
    "--heatmap scale_memory_bandwidth,chip -q",
    "infersim pareto --model llama-3.1-70b --weight-dtype fp8 --chips nvidia-h100-sxm,nvidia-h200-sxm,nvidia-b200,"
    "amd-mi300x,google-tpu-v6e -o docs/pareto-llama70b -q",
    "infersim roofline --chip nvidia-h100-sxm --model llama-3.1-70b --weight-dtype fp8 "
    "-o docs/roofline-h100-llama70b-fp8.png -q",
]


# ---- running -------------------------------------------------------------------------------------
@functools.cache
def run(command: str) -> tuple[int, str]:
    """(exit code, output) of a shell-free command run from the repository root."""
    argv = shlex.split(command)
    if argv[0] == "python":
        argv[0] = sys.executable
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, env=ENV)
    text = out.stdout if out.returncode == 0 else out.stdout + out.stderr
    for pattern, replacement in VARYING:
        text = pattern.sub(replacement, text)
    return out.returncode, text.rstrip("\n")


def run_block(body: str) -> str:
    lines = []
    for command in (c.strip() for c in body.splitlines()):
        if not command:
            continue
        code, text = run(command)
        lines += [f"$ {command}", *([text] if text else [])]
    return "\n".join(lines)


SESSION_DRIVER = r"""
import ast, contextlib, io, json, sys
import pandas as pd
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)
cells = json.loads(sys.stdin.read())
env = {"__name__": "__main__"}
out = []
for cell in cells:
    tree = ast.parse(cell)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            exec(compile(ast.Module(tree.body[:-1], []), "<cell>", "exec"), env)
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), env)
            if value is not None:
                print(repr(value))
        else:
            exec(compile(tree, "<cell>", "exec"), env)
    out.append(buf.getvalue().rstrip("\n"))
print(json.dumps(out))
"""


def session_block(body: str) -> str:
    cells = [c for c in body.splitlines() if c.strip()]
    out = subprocess.run([sys.executable, "-c", SESSION_DRIVER], input=json.dumps(cells), cwd=REPO,
                         capture_output=True, text=True, env=ENV)
    if out.returncode:
        raise SystemExit(f"python-session failed:\n{out.stderr}")
    shown = json.loads(out.stdout.splitlines()[-1])
    lines = []
    for cell, text in zip(cells, shown):
        lines.append(f">>> {cell}")
        if text:
            lines.append(text)
    return "\n".join(lines)


# ---- numbers the prose states, each derived from a run or a file a run wrote -----------------------
@functools.cache
def _compare_rows(command: str) -> list[dict]:
    """Rows of a quoted compare run, re-run with --json (same options, same numbers)."""
    path = REPO / "docs" / ".compare.json"
    code, text = run(f"{command} --json {path} -q")
    if code:
        raise SystemExit(f"{command} failed: {text}")
    rows = json.loads(path.read_text())["rows"]
    path.unlink()
    return rows


@functools.cache
def _lib():
    from infersim.specs.library import Library

    return Library(use_env=False)


FIRST = "infersim compare --model llama-3.1-70b"
CHAT = ("infersim compare --model llama-3.1-70b --weight-dtype fp8 --traffic chat --chips nvidia-h100-sxm,"
        "nvidia-h200-sxm,nvidia-b200,nvidia-gb200,amd-mi300x,google-tpu-v6e,google-tpu-v7,aws-trainium2,groq-lpu-v1,"
        "intel-xeon-6980p --uncertainty")


def _first_row(chip: str) -> dict:
    return next(r for r in _compare_rows(FIRST) if r["chip"] == chip)


def _groq_ratio() -> str:
    rows = _compare_rows(CHAT)
    groq = next(r for r in rows if r["chip"] == "groq-lpu-v1")
    others = [groq["usd_per_mtok"] / r["usd_per_mtok"] for r in rows if r["chip"] != "groq-lpu-v1"]
    return f"{min(others):.0f} to {max(others):.0f}"


def _sweep_h100() -> str:
    import pandas as pd

    df = pd.read_csv(REPO / "docs" / "sweeps" / "hbm-bandwidth-what-if.csv")
    h = df[(df.chip == "nvidia-h100-sxm") & (df.scale_memory_capacity == 1) & (df.scale_electricity == 1)
           & (df.scale_hbm_price == 1)]
    best = h.groupby("scale_memory_bandwidth").usd_per_mtok.min()
    return f"${best.loc[1.0]:.3f} to ${best.loc[2.0]:.3f}"


def _pcie() -> str:
    r = _first_row("nvidia-h100-pcie")
    return f"{r['num_chips']} cards (the fewest that hold the weights: {r['min_chips']}), ${r['usd_per_mtok']:.2f}/M tokens"


@functools.cache
def _validate_summary() -> dict:
    path = REPO / "docs" / ".validate.json"
    code, text = run(f"infersim validate benchmarks/accuracy/calibration.csv --json {path} -q")
    data = json.loads(path.read_text())
    path.unlink()
    return data["summary"]


FACTS = {
    "n_chips": lambda: str(len(_lib().ids("chip"))),
    "n_models": lambda: str(len(_lib().ids("model"))),
    "n_traffic": lambda: str(len(_lib().ids("traffic"))),
    "n_scenarios": lambda: str(len(_lib().ids("scenario"))),
    "n_sweeps": lambda: str(len(_lib().ids("sweep"))),
    "model_list": lambda: ", ".join(_lib().ids("model")),
    "groq_ratio": _groq_ratio,
    "sweep_h100": _sweep_h100,
    "pcie_first": _pcie,
    "first_rank_chip": lambda: _compare_rows(FIRST)[0]["chip"],
    "first_last_chip": lambda: _compare_rows(FIRST)[-1]["chip"],
    "validate_predicted": lambda: str(_validate_summary()["predicted"]),
    "validate_rows": lambda: str(_validate_summary()["predicted"] + _validate_summary()["skipped"]),
}


def table(spec: str) -> str:
    import pandas as pd

    from infersim.report.tables import frame_table

    parts = spec.split("|")
    df = pd.read_csv(REPO / parts[0])
    if len(parts) > 1 and parts[1]:
        df = df[parts[1].split(",")]
    if len(parts) > 2 and parts[2]:
        df = df.head(int(parts[2]))
    return frame_table(df)


# ---- pages ---------------------------------------------------------------------------------------
FENCE = re.compile(r"^```(run|python-session)\n(.*?)^```$", re.S | re.M)
PLACEHOLDER = re.compile(r"\{\{([^}]+)\}\}")


def render(template: str) -> str:
    def block(m: re.Match) -> str:
        body = run_block(m.group(2)) if m.group(1) == "run" else session_block(m.group(2))
        return f"```{'text' if m.group(1) == 'run' else 'pycon'}\n{body}\n```"

    def fill(m: re.Match) -> str:
        key = m.group(1).strip()
        if key.startswith("table:"):
            return table(key[len("table:"):])
        if key.startswith("text:"):
            return (REPO / key[len("text:"):]).read_text().strip()
        if key.startswith("question:"):
            return _lib().scenario(key[len("question:"):]).question.strip()
        if key not in FACTS:
            raise SystemExit(f"unknown placeholder {{{{{key}}}}}: add it to FACTS in docs/regenerate.py")
        return FACTS[key]()

    return PLACEHOLDER.sub(fill, FENCE.sub(block, template))


def target_of(src: Path) -> Path:
    return REPO / "README.md" if src.name == "README.md" else REPO / "docs" / src.name


def add_new_pages_to_nav(check: bool) -> list[str]:
    """Pages other engineers added as docs/<topic>.md: a nav line each in mkdocs.yml (before
    Architecture), titled by the page's first heading."""
    mkdocs = REPO / "mkdocs.yml"
    text = mkdocs.read_text()
    added = []
    for page in sorted((REPO / "docs").glob("*.md")):
        if f": {page.name}" in text:
            continue
        title = next((line[2:].strip() for line in page.read_text().splitlines() if line.startswith("# ")), page.stem)
        text = text.replace("  - Architecture: architecture.md", f"  - {title}: {page.name}\n  - Architecture: architecture.md")
        added.append(page.name)
    if added and not check:
        mkdocs.write_text(text)
    return added


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report pages that would change; write nothing")
    parser.add_argument("--pages-only", action="store_true", help="skip re-running the artifacts (scenarios, sweep, "
                                                                  "figures); the quoted commands still run")
    args = parser.parse_args()
    if not args.pages_only and not args.check:
        for command in ARTIFACTS:
            code, text = run(command)
            if code:
                raise SystemExit(f"{command} failed:\n{text}")
            print(f"ran {command}")
    changed = []
    for src in sorted(SRC.glob("*.md")):
        target = target_of(src)
        header = f"<!-- generated by docs/regenerate.py from docs/src/{src.name}: edit that file -->\n"
        text = header + render(src.read_text())
        old = target.read_text() if target.exists() else ""
        if text != old:
            changed.append(target.relative_to(REPO))
            if not args.check:
                target.write_text(text)
    changed += [f"mkdocs.yml (nav: {name})" for name in add_new_pages_to_nav(args.check)]
    print("changed: " + (", ".join(map(str, changed)) if changed else "nothing"))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
