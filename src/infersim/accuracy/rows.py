"""Read a table of published measurements and check every row against the validation schema
(benchmarks/accuracy/README.md, revision 3).

A file-level problem (missing, unreadable, a required column absent, no data rows) raises
InfersimError. A row-level problem (a value of the wrong type or out of range, an unknown mode or
metric, a mapping that needs more chips than the row has, an id seen before) makes that row
*invalid*: it is reported with its line number and the reason, and the other rows are kept. An
empty field means unknown, never zero, and is read as NaN.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..dtypes import KV_DTYPES, WEIGHT_DTYPES
from ..errors import InfersimError

SCHEMA_DOC = "benchmarks/accuracy/README.md"
METRICS = ("system_output_tokens_per_s", "per_user_tokens_per_s", "ttft_ms", "tpot_ms")
MODES = ("offline", "server", "fixed_batch", "single_stream", "concurrency", "disagg")

# column -> kind. Kinds: 'text' (may be empty), 'name' (must not be empty), 'count' (a whole
# number >= 1, or empty), 'positive' (a number > 0, or empty), 'value' (a number > 0, required),
# 'weight_dtype' / 'kv_dtype' (one of the dtype names, or empty), 'mode', 'metric'.
REQUIRED = {
    "id": "name", "hardware": "name", "num_chips": "count", "model": "name", "weight_dtype": "weight_dtype",
    "kv_dtype": "kv_dtype", "mode": "mode", "input_len": "positive", "output_len": "positive", "batch": "count",
    "load_qps": "positive", "tp": "count", "pp": "count", "ep": "count", "ttft_slo_ms": "positive",
    "tpot_slo_ms": "positive", "metric": "metric", "value": "value", "source": "text",
}
# revision 3: closed loops, attention data parallelism, disaggregated pools (all optional)
POOL_MAPPING = ("tp", "pp", "ep", "attn_dp")
OPTIONAL = {
    "notes": "text", "concurrency": "count", "attn_dp": "count", "prefill_chips": "count", "decode_chips": "count",
    **{f"{pool}_{k}": "count" for pool in ("prefill", "decode") for k in POOL_MAPPING},
    "prefill_batch": "count", "decode_batch": "count",
}
COLUMNS = {**REQUIRED, **OPTIONAL}


@dataclass(frozen=True)
class InvalidRow:
    line: int          # line of the file where the row starts (the header is line 1)
    id: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}" + (f" ({self.id})" if self.id else "") + f": {self.reason}"


@dataclass
class Rows:
    """The valid rows (typed: numbers as float, empty as NaN; a `line` column) and the invalid ones."""

    path: Path
    table: pd.DataFrame
    invalid: list[InvalidRow] = field(default_factory=list)


class _Bad(Exception):
    pass


def _parse(column: str, kind: str, text: str):
    text = text.strip()
    if kind in ("text", "name"):
        if kind == "name" and not text:
            raise _Bad(f"{column} is empty: every row needs one")
        return text
    if kind in ("weight_dtype", "kv_dtype"):
        allowed = WEIGHT_DTYPES if kind == "weight_dtype" else KV_DTYPES
        if text and text not in allowed:
            raise _Bad(f"{column} '{text}' is not one of {', '.join(allowed)} (or empty for unknown)")
        return text or math.nan
    if kind in ("mode", "metric"):
        allowed = MODES if kind == "mode" else METRICS
        if text not in allowed:
            raise _Bad(f"{column} '{text}' is not one of {', '.join(allowed)}")
        return text
    if not text:
        if kind == "value":
            raise _Bad("value is empty: a row needs the measured number")
        return math.nan
    try:
        x = float(text)
    except ValueError:
        raise _Bad(f"{column} '{text}' is not a number") from None
    if not math.isfinite(x):
        raise _Bad(f"{column} '{text}' is not a finite number")
    if kind == "count":
        if x < 1 or x != int(x):
            raise _Bad(f"{column} '{text}' must be a whole number >= 1 (or empty for unknown)")
        return float(int(x))
    if x <= 0:
        raise _Bad(f"{column} '{text}' must be > 0" + ("" if kind == "value" else " (or empty for unknown)"))
    return x


def _present(v) -> bool:
    return not (isinstance(v, float) and math.isnan(v))


def _check_row(r: dict) -> None:
    """Consistency between fields of one row (the schema's meanings of tp, pp, attn_dp, ep, pools)."""
    n = r["num_chips"]
    per_replica = r["tp"] if _present(r["tp"]) else None
    if per_replica is not None:
        per_replica *= (r["pp"] if _present(r["pp"]) else 1.0) * (r.get("attn_dp") if _present(r.get("attn_dp", math.nan))
                                                                   else 1.0)
        if _present(n) and per_replica > n:
            raise _Bad(f"tp x pp x attn_dp = {per_replica:g} chips per replica exceeds num_chips {n:g}")
        if _present(n) and n % per_replica:
            raise _Bad(f"num_chips {n:g} is not a whole number of replicas of tp x pp x attn_dp = {per_replica:g} chips")
    for prefix in ("", "prefill_", "decode_"):
        tp, ep = r.get(f"{prefix}tp", math.nan), r.get(f"{prefix}ep", math.nan)
        dp = r.get(f"{prefix}attn_dp", math.nan)
        if _present(ep) and _present(tp):
            group = tp * (dp if _present(dp) else 1.0)
            if group % ep:
                raise _Bad(f"{prefix}ep {ep:g} does not divide the {group:g} chips of {prefix}tp x {prefix}attn_dp "
                           "(expert parallelism spreads the experts over them)")
    pools = [r.get(f"{p}_chips", math.nan) for p in ("prefill", "decode")]
    if all(_present(p) for p in pools) and _present(n) and pools[0] + pools[1] != n:
        raise _Bad(f"prefill_chips {pools[0]:g} + decode_chips {pools[1]:g} != num_chips {n:g}")
    for pool, chips in zip(("prefill", "decode"), pools):
        tp = r.get(f"{pool}_tp", math.nan)
        if _present(tp) and _present(chips):
            inst = tp * (r.get(f"{pool}_pp") if _present(r.get(f"{pool}_pp", math.nan)) else 1.0) * \
                (r.get(f"{pool}_attn_dp") if _present(r.get(f"{pool}_attn_dp", math.nan)) else 1.0)
            if inst > chips or chips % inst:
                raise _Bad(f"{pool}_chips {chips:g} is not a whole number of {pool} instances of {inst:g} chips")


def _check(name: str, header: list[str], records) -> tuple[pd.DataFrame, list[InvalidRow]]:
    """Check the header and every (line, cells) record; `name` (a path) starts every file-level message."""
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InfersimError(f"{name}: missing column(s) {', '.join(missing)}: see the schema in {SCHEMA_DOC}")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InfersimError(f"{name}: column(s) {', '.join(dupes)} appear twice in the header")
    good, invalid, seen = [], [], set()
    id_at = header.index("id")
    for start, cells in records:
        if not any(c.strip() for c in cells):
            continue
        rid = cells[id_at].strip() if len(cells) > id_at else ""
        if len(cells) != len(header):
            invalid.append(InvalidRow(start, rid, f"{len(cells)} fields where the header has {len(header)}"))
            continue
        raw = dict(zip(header, cells))
        try:
            rec = {c: _parse(c, kind, raw[c]) for c, kind in COLUMNS.items() if c in raw}
            rec.update({c: math.nan for c in OPTIONAL if c not in raw})
            if rec["id"] in seen:
                raise _Bad(f"id '{rec['id']}' appears on an earlier line")
            _check_row(rec)
        except _Bad as exc:
            invalid.append(InvalidRow(start, rid, str(exc)))
            continue
        seen.add(rec["id"])
        rec["notes"] = rec.get("notes", "")
        rec["line"] = start
        good.append(rec)
    if not good and not invalid:
        raise InfersimError(f"{name}: no data rows (only a header): add rows in the schema of {SCHEMA_DOC}")
    return pd.DataFrame(good, columns=list(COLUMNS) + ["line"]), invalid


def read_rows(path: Path) -> Rows:
    """Read and check a CSV in the validation schema; raise InfersimError for a problem with the
    whole file, keep row-level problems in Rows.invalid."""
    path = Path(path)

    def records(reader):
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            yield start, cells

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise InfersimError(f"{path}: the file is empty: it needs a header line and rows "
                                    f"(see {SCHEMA_DOC})") from None
            table, invalid = _check(str(path), header, records(reader))
    except FileNotFoundError:
        raise InfersimError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InfersimError(f"{path}: is a folder, not a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InfersimError(f"{path}: not a readable UTF-8 CSV ({exc})") from None
    return Rows(path, table, invalid)


def check_rows(df: pd.DataFrame, name: str = "rows") -> Rows:
    """Check a DataFrame in the schema as read_rows checks a file (row i is 'line' i + 2, as if
    written with a header)."""

    def text(v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    header = [str(c).strip() for c in df.columns]
    records = ((i + 2, [text(v) for v in row]) for i, row in enumerate(df.itertuples(index=False, name=None)))
    table, invalid = _check(name, header, records)
    return Rows(Path(name), table, invalid)
