"""cli/output.py: output paths checked before any work, atomic writes, nothing half-written."""

import json
import math
import os

import pandas as pd
import pytest

from infersim.cli import main
from infersim.cli.output import CSV, FIGURE, JSON, TABLE, OutputError, Outputs


def _no_temporaries(folder):
    return [p.name for p in folder.iterdir() if ".partial" in p.name or p.name.startswith(".infersim-probe-")]


def test_csv_and_json_written_in_place_atomically(tmp_path):
    out = Outputs()
    csv, js = out.file("--csv", tmp_path / "a.csv", CSV), out.file("--json", tmp_path / "a.json", JSON)
    df = pd.DataFrame({"x": [1, 2], "y": [0.5, math.nan]})
    with out:
        out.csv(csv, df)
        out.json(js, {"rows": [1.0, math.inf, -math.inf, math.nan], "n": 2})
    assert out.written == [csv, js]
    assert pd.read_csv(csv)["x"].tolist() == [1, 2]
    # JSON has no NaN or infinity: they are written as null, and the file parses as strict JSON
    assert json.loads(js.read_text(), parse_constant=lambda c: pytest.fail(c)) == {"rows": [1.0, None, None, None],
                                                                                 "n": 2}
    assert _no_temporaries(tmp_path) == []


def test_new_file_gets_the_umask_permissions_and_an_existing_file_keeps_its_own(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("a\n1\n")
    old.chmod(0o640)
    out = Outputs()
    new = out.file("--csv", tmp_path / "new.csv", CSV)
    out.file("--csv2", old, CSV)
    with out:
        out.csv(new, pd.DataFrame({"a": [2]}))
        out.csv(old, pd.DataFrame({"a": [3]}))
    mask = os.umask(0)
    os.umask(mask)
    assert new.stat().st_mode & 0o777 == 0o666 & ~mask
    assert old.stat().st_mode & 0o777 == 0o640 and pd.read_csv(old)["a"].tolist() == [3]


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError, OSError])
def test_a_failure_while_writing_leaves_the_existing_file_and_no_temporary(tmp_path, failure):
    target = tmp_path / "fig.png"
    target.write_bytes(b"the old figure")
    out = Outputs()
    out.file("-o", target, FIGURE)

    def draw_half_then_fail(tmp):
        tmp.write_bytes(b"half a fig")
        raise failure("stop")

    with pytest.raises((failure, OutputError)), out:
        out.figure(target, draw_half_then_fail)
    assert target.read_bytes() == b"the old figure"
    assert _no_temporaries(tmp_path) == []


def test_a_failure_after_one_write_discards_the_other_planned_outputs(tmp_path):
    out = Outputs()
    a, b = out.file("--a", tmp_path / "a.csv", CSV), out.file("--b", tmp_path / "b.csv", CSV)
    with pytest.raises(RuntimeError), out:
        out.csv(a, pd.DataFrame({"x": [1]}))
        raise RuntimeError("the second output's computation failed")
    assert not a.exists() and not b.exists() and _no_temporaries(tmp_path) == []


def test_folder_output_created_only_when_written(tmp_path):
    out = Outputs()
    folder = out.folder("-o", tmp_path / "new")
    f = out.in_folder("-o", folder, "t.csv")
    assert not folder.exists()  # planning creates nothing
    with out:
        out.csv(f, pd.DataFrame({"x": [1]}))
    assert f.exists() and _no_temporaries(tmp_path) == [] and _no_temporaries(folder) == []


def test_a_folder_output_is_not_created_when_the_run_fails(tmp_path):
    out = Outputs()
    folder = out.folder("-o", tmp_path / "new")
    with pytest.raises(KeyboardInterrupt), out:
        out.csv(out.in_folder("-o", folder, "t.csv"), pd.DataFrame({"x": [1]}))
        raise KeyboardInterrupt
    assert not folder.exists() and _no_temporaries(tmp_path) == []


def test_parquet_round_trip(tmp_path):
    pytest.importorskip("pyarrow")
    out = Outputs()
    p = out.file("-o", tmp_path / "t.parquet", TABLE)
    with out:
        out.table(p, pd.DataFrame({"x": [1.5]}))
    assert pd.read_parquet(p)["x"].tolist() == [1.5]


def test_parquet_without_pyarrow_is_refused_before_the_work(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(OutputError, match=r"pip install 'infersim\[parquet\]'"):
        Outputs().file("-o", tmp_path / "t.parquet", TABLE)


def test_writing_a_path_that_was_not_planned_is_a_bug(tmp_path):
    with pytest.raises(RuntimeError, match="not planned"):
        Outputs().csv(tmp_path / "x.csv", pd.DataFrame())


def test_a_symlinked_output_writes_through_to_its_target(tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("x\n0\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    out = Outputs()
    p = out.file("--csv", link, CSV)
    with out:
        out.csv(p, pd.DataFrame({"x": [7]}))
    assert link.is_symlink() and pd.read_csv(target)["x"].tolist() == [7]


def test_ctrl_c_during_compare_exits_130_with_one_line_and_keeps_the_old_csv(tmp_path, capsys, monkeypatch):
    import infersim.analysis.compare as compare_module

    csv = tmp_path / "keep.csv"
    csv.write_text("old\n")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(compare_module, "compare", interrupted)
    code = main(["compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm", "--csv", str(csv)])
    err = capsys.readouterr().err
    assert code == 130 and err.strip().splitlines() == [err.strip()] and "interrupted" in err
    assert "Traceback" not in err and csv.read_text() == "old\n" and _no_temporaries(tmp_path) == []


@pytest.mark.jit_only
def test_ctrl_c_in_a_real_sweep_exits_130_with_one_line_and_leaves_the_old_file(tmp_path):
    """SIGINT to the command's process group, as a terminal's Ctrl-C, once the sweep is under way (its first
    progress line): exit 130, 'interrupted' as the last line, no traceback, the old output intact, nothing else."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "b.csv"
    out.write_text("old results\n")
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "infersim", "sweep", "billion-points", "-o", str(out)],
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 240
        while "% of" not in err_path.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        os.killpg(os.getpgid(proc.pid), signal.SIGINT)
        # the interrupt is handled when the kernel's current chunk returns: generous on a loaded machine
        code = proc.wait(timeout=600)
    lines = [line for line in err_path.read_text().splitlines() if line.strip()]
    assert code == 130 and lines[-1].startswith("infersim: interrupted"), lines
    assert all("% of" in line for line in lines[:-1]), lines  # progress lines, then the one line
    assert out.read_text() == "old results\n" and sorted(p.name for p in tmp_path.iterdir()) == ["b.csv", "stderr"]
