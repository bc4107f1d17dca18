"""Where every command writes its files: output paths are checked before any work is done, and
writes are atomic, so a failed or interrupted run leaves no half-written file and never destroys
an existing one.

A command plans its outputs first, then computes, then writes them in one go:

    out = Outputs()
    csv = out.file("--csv", args.csv, CSV)            # checked now: folder exists and is writable,
    js = out.file("--json", args.json, JSON)          # not a directory, suffix, no two on one path
    ... the computation ...
    with out:                                         # each write goes to a temporary file in the
        if csv: out.csv(csv, df)                      # destination folder; leaving the block
        if js: out.json(js, payload)                  # renames them all into place (os.replace),
    for p in out.written: print(f"wrote {p}")         # an exception deletes them instead

Folders given as outputs (`-o DIR`) may not exist yet: their parent must, and they are created
when the files are renamed into place.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

from ..errors import InfersimError

CSV = (".csv",)
JSON = (".json",)
TABLE = (".csv", ".parquet")
FIGURE = (".png", ".svg", ".pdf")
TEXT = (".txt",)


class OutputError(InfersimError):
    """An output path that cannot be written: the message names the option, the path and the fix."""


def _either(formats: tuple[str, ...]) -> str:
    return formats[0] if len(formats) == 1 else f"{', '.join(formats[:-1])} or {formats[-1]}"


def _say(option: str, path: Path | str) -> str:
    return f"{option} '{path}'" if option else f"'{path}'"


def _probe_writable(folder: Path, option: str, path: Path | str) -> None:
    """Create and delete a file in `folder`: the only test of writability that holds for root, read-only
    mounts and network file systems alike."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".infersim-probe-", dir=folder)
    except OSError as exc:
        raise OutputError(f"{_say(option, path)}: cannot create a file in folder '{folder}' "
                          f"({exc.strerror}): choose a folder you can write to") from None
    os.close(fd)
    os.unlink(probe)


def _file_mode(final: Path) -> int:
    """Permissions for a new file: the existing file's, else what the umask gives a new file."""
    try:
        return final.stat().st_mode & 0o7777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _json_safe(obj: Any) -> Any:
    """Plain JSON: NaN and infinities become null (JSON has no such numbers), numpy scalars plain."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # numpy scalar
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


class Outputs:
    """The files one command run writes: planned (and checked) before the work, written atomically after."""

    def __init__(self) -> None:
        self._planned: dict[Path, tuple[str, Path]] = {}   # resolved path -> (option, path as given)
        self._folders: dict[Path, Path] = {}               # output folders: as given -> resolved
        self._pending: list[tuple[Path, Path]] = []        # (temporary file, final path)
        self.written: list[Path] = []

    # ---- planning: every check before any computation -------------------------------------------
    def file(self, option: str, path: str | Path | None, formats: Iterable[str]) -> Path | None:
        """Check an output file given with `option`; None when the option was not given."""
        if path is None:
            return None
        formats = tuple(formats)
        text = str(path)
        if not text.strip():
            raise OutputError(f"{option} is empty: give a file name ending in {_either(formats)}")
        p = Path(text)
        if p.is_dir():
            raise OutputError(f"{_say(option, p)} is a folder: give a file name inside it, e.g. {p / ('out' + formats[0])}")
        if p.suffix.lower() not in formats:
            raise OutputError(f"{_say(option, p)} must end in {_either(formats)}")
        if p.exists() and not p.is_file():
            raise OutputError(f"{_say(option, p)} exists and is not a regular file: choose another path")
        if p.suffix.lower() == ".parquet" and importlib.util.find_spec("pyarrow") is None:
            raise OutputError(f"{_say(option, p)}: writing parquet needs pyarrow: pip install 'infersim[parquet]', "
                              "or write .csv")
        parent = self._folder_of(p)
        if parent is None:
            folder = p.parent
            if not folder.exists():
                raise OutputError(f"{_say(option, p)}: folder '{folder}' does not exist: create it first "
                                  f"(mkdir -p '{folder}') or choose another path")
            if not folder.is_dir():
                raise OutputError(f"{_say(option, p)}: '{folder}' is not a folder: choose another path")
            _probe_writable(folder, option, p)
        self._claim(option, p)
        return p

    def folder(self, option: str, path: str | Path | None) -> Path | None:
        """Check an output folder: an existing writable folder, or a new one in an existing writable folder."""
        if path is None:
            return None
        text = str(path)
        if not text.strip():
            raise OutputError(f"{option} is empty: give a folder name")
        p = Path(text)
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"{_say(option, p)} exists and is not a folder: give a folder name")
            _probe_writable(p, option, p)
        else:
            parent = p.parent
            if not parent.is_dir():
                raise OutputError(f"{_say(option, p)}: folder '{parent}' does not exist: create it first "
                                  f"(mkdir -p '{parent}') or choose another path")
            _probe_writable(parent, option, p)
        self._folders[p] = p.resolve()
        return p

    def in_folder(self, option: str, folder: Path, name: str) -> Path:
        """A file that a folder output will hold (planned so that two outputs never share a path)."""
        p = folder / name
        if p.is_dir():
            raise OutputError(f"{_say(option, folder)}: '{p}' is a folder, where a file would be written: "
                              "choose another folder")
        self._claim(option, p)
        return p

    def _folder_of(self, p: Path) -> Path | None:
        resolved_parent = p.parent.resolve()
        return next((f for f, r in self._folders.items() if r == resolved_parent), None)

    def _claim(self, option: str, p: Path) -> None:
        key = p.resolve()
        if key in self._planned:
            other, other_path = self._planned[key]
            raise OutputError(f"{_say(option, p)} and {_say(other, other_path)} are the same file: "
                              "give each output its own path")
        self._planned[key] = (option, p)

    # ---- writing: temporary file in the destination folder, renamed on success ------------------
    def _temp(self, final: Path) -> Path:
        """A temporary file next to `final` (or in the nearest existing folder above it), same suffix."""
        folder = final.parent
        while not folder.is_dir():
            folder = folder.parent
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial" + final.suffix, dir=folder)
        os.close(fd)
        tmp_path = Path(tmp)
        self._pending.append((tmp_path, final))
        return tmp_path

    def _write(self, final: Path, write: Callable[[Path], Any]) -> None:
        if final.resolve() not in self._planned:
            raise RuntimeError(f"output {final} was not planned before the computation")  # a bug, not bad input
        tmp = self._temp(final)
        try:
            write(tmp)
        except OSError as exc:
            raise OutputError(f"could not write '{final}': {exc.strerror or exc}") from None

    def csv(self, path: Path, df) -> None:
        """A DataFrame as CSV (no index)."""
        self._write(path, lambda tmp: df.to_csv(tmp, index=False))

    def parquet(self, path: Path, df) -> None:
        self._write(path, lambda tmp: df.to_parquet(tmp, index=False))

    def table(self, path: Path, df) -> None:
        """A DataFrame as CSV or parquet, by the path's suffix."""
        (self.parquet if path.suffix.lower() == ".parquet" else self.csv)(path, df)

    def json(self, path: Path, obj: Any) -> None:
        """A JSON document (NaN and infinities written as null)."""
        text = json.dumps(_json_safe(obj), indent=2, allow_nan=False)
        self._write(path, lambda tmp: tmp.write_text(text + "\n"))

    def text(self, path: Path, text: str) -> None:
        self._write(path, lambda tmp: tmp.write_text(text))

    def figure(self, path: Path, draw: Callable[[Path], Any]) -> None:
        """A figure: `draw(tmp_path)` saves it (the report layer's functions take a path; format by suffix)."""
        self._write(path, draw)

    def commit(self) -> list[Path]:
        """Rename every written file into place; returns the final paths (also in `written`)."""
        pending, self._pending = self._pending, []
        done: list[Path] = []
        try:
            for tmp, final in pending:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, _file_mode(final))
                os.replace(tmp, final.resolve() if final.is_symlink() else final)
                done.append(final)
                self.written.append(final)
        except OSError as exc:
            raise OutputError(f"could not write '{final}': {exc.strerror or exc}") from None
        finally:  # an error or Ctrl-C part-way: the files not yet in place are deleted, none is left half-written
            self._pending = [(t, f) for t, f in pending if f not in done]
            self.discard()
        return done

    def discard(self) -> None:
        """Delete the temporary files (after a failure or an interrupt); existing outputs stay as they were."""
        pending, self._pending = self._pending, []
        for tmp, _ in pending:
            try:
                tmp.unlink()
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


# ---- the tables a command prints, also as files: --csv / --json (/ --parquet) -------------------
TABLE_OPTIONS = {"csv": CSV, "json": JSON, "parquet": (".parquet",)}
log = logging.getLogger("infersim")


def add_table_outputs(p, what: str = "the table", parquet: bool = False) -> None:
    """--csv PATH and --json PATH (and --parquet PATH) for a command that prints a table."""
    p.add_argument("--csv", metavar="PATH", help=f"also write {what} as CSV")
    p.add_argument("--json", metavar="PATH", help=f"also write {what} as JSON (its rows, with the context)")
    if parquet:
        p.add_argument("--parquet", metavar="PATH", help=f"also write {what} as parquet (needs pyarrow)")


def plan_table_outputs(out: Outputs, args) -> dict[str, Path]:
    """Check the --csv/--json/--parquet paths the command was given (before any work)."""
    planned = {}
    for fmt, formats in TABLE_OPTIONS.items():
        path = out.file(f"--{fmt}", getattr(args, fmt, None), formats)
        if path is not None:
            planned[fmt] = path
    return planned


def write_tables(out: Outputs, planned: dict[str, Path], df, context: dict | None = None) -> None:
    """Inside `with out:`, write `df` to each planned path (JSON: {**context, "rows": [...]})."""
    for fmt, path in planned.items():
        if fmt == "json":
            out.json(path, {**(context or {}), "rows": json.loads(df.to_json(orient="records"))})
        elif fmt == "parquet":
            out.parquet(path, df)
        else:
            out.csv(path, df)


def report_written(out: Outputs) -> None:
    """'wrote PATH' on stderr for every file written (hidden by -q)."""
    for path in out.written:
        log.info(f"wrote {path}")
