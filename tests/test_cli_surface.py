"""The command line's surface: every command described, every option explained, options a
command cannot use rejected, every printed table writable as CSV and JSON, -v/-q."""

import argparse
import json

import pandas as pd
import pytest

from infersim.cli import main
from infersim.cli.app import build_parser


def _walk(parser, name="infersim"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield f"{name} {sub_name}", sub
                yield from _walk(sub, f"{name} {sub_name}")


COMMANDS = dict(_walk(build_parser()))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_a_description_and_every_option_a_help_text(name):
    parser = COMMANDS[name]
    assert parser.description and "\n" not in parser.description.strip(), name
    missing = [a.option_strings or a.dest for a in parser._actions if not a.help and a.dest != "help"
               and not isinstance(a, argparse._SubParsersAction)]
    assert missing == [], (name, missing)


@pytest.mark.parametrize("argv", [
    ["goodput", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--batch", "8"],
    ["goodput", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--objective", "latency"],
    ["disagg", "--model", "llama-3.1-8b", "--prefill-chips", "nvidia-h100-sxm", "--decode-chips", "nvidia-b200",
     "--num-chips", "4"],
    ["pareto", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm", "--max-tpot-ms", "40"],
    ["roofline", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--objective", "latency"],
    ["speculate", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--objective", "throughput"],
])
def test_an_option_the_command_cannot_use_is_an_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_commands_with_a_table_write_csv_and_json(tmp_path, capsys):
    runs = {
        "compare": ["compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm,amd-mi300x"],
        "explain": ["explain", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--batch", "8"],
        "goodput": ["goodput", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--traffic", "chat"],
        "speculate": ["speculate", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--max-k", "3"],
        "tco": ["tco", "--chips", "nvidia-h100-sxm,google-tpu-v7"],
        "specs": ["specs", "list", "--model"],
        "scenario": ["scenario", "run", "hbm-price-shock"],
    }
    for name, argv in runs.items():
        csv, js = tmp_path / f"{name}.csv", tmp_path / f"{name}.json"
        assert main([*argv, "--csv", str(csv), "--json", str(js)]) == 0, name
        printed = capsys.readouterr()
        df = pd.read_csv(csv)
        rows = json.loads(js.read_text())["rows"]
        assert len(df) >= 1 and len(rows) == len(df) and list(rows[0]) == list(df.columns), name
        assert f"wrote {csv}" in printed.err, name
    # the goodput row is the printed result: rate, and its p99s within the chat targets (450 ms, 40 ms)
    g = pd.read_csv(tmp_path / "goodput.csv").iloc[0]
    assert g.goodput_requests_per_s > 0 and g.ttft_p99_s <= 0.450 and g.tpot_p99_s <= 0.040 * 1.001
    # explain: both phases, and the time shares of each add up to 1
    ops = pd.read_csv(tmp_path / "explain.csv")
    assert ops.groupby("phase")["time_share"].sum().round(9).to_dict() == {"decode": 1.0, "prefill": 1.0}


def test_output_path_is_checked_before_any_work(tmp_path, capsys):
    code = main(["compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm", "--csv", str(tmp_path / "x.txt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("infersim: error: --csv") and "must end in .csv" in err, err
    (tmp_path / "folder.csv").mkdir()
    code = main(["compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm", "--csv", str(tmp_path / "folder.csv")])
    assert code == 2 and "is a folder" in capsys.readouterr().err
    code = main(["sweep", "hbm-bandwidth-what-if", "-o", str(tmp_path / "s.xlsx")])
    assert code == 2 and "--output" in capsys.readouterr().err


def test_quiet_and_verbose(tmp_path, capsys):
    csv = tmp_path / "t.csv"
    assert main(["-q", "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm", "--csv", str(csv)]) == 0
    out, err = capsys.readouterr()
    assert "nvidia-h100-sxm" in out and err == ""
    assert main(["compare", "-vv", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm"]) == 0
    assert "configurations over chip counts" in capsys.readouterr().err


def test_compare_table_says_which_chip_counts_were_tried(capsys):
    assert main(["compare", "--model", "llama-3.1-70b", "--chips", "nvidia-h100-pcie,nvidia-h100-sxm"]) == 0
    out = capsys.readouterr().out
    pcie = next(line for line in out.splitlines() if "nvidia-h100-pcie" in line)
    assert "2,4,8" in pcie  # 2 cards hold the bf16 weights; 4 and a full 8-card server are tried too
    assert "tried" in out
