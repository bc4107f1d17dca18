"""The command line: real runs, and every kind of bad input -> one line on stderr, exit 2."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from infersim.cli import main

H100 = Path(__file__).resolve().parents[1] / "hardware_specs" / "gpu" / "nvidia-h100-sxm.toml"
REQUIRED_COLUMNS = ["chip", "model", "num_chips", "tp", "pp", "ep", "batch", "ttft_s", "tpot_s",
                    "user_tokens_per_s", "system_tokens_per_s", "decode_bound"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("infersim: error:"), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_compare_writes_ranked_table_csv_and_json(capsys, tmp_path):
    csv, js = tmp_path / "out.csv", tmp_path / "out.json"
    code, out, _ = run(capsys, "compare", "--model", "llama-3.1-70b", "--chips",
                       "nvidia-h100-sxm,nvidia-h200-sxm,google-tpu-v6e", "--weight-dtype", "fp8",
                       "--csv", str(csv), "--json", str(js))
    assert code == 0
    assert "nvidia-h200-sxm" in out and "decode bound" in out
    df = pd.read_csv(csv)
    assert list(df.columns[: len(REQUIRED_COLUMNS)]) == REQUIRED_COLUMNS or set(REQUIRED_COLUMNS) <= set(df.columns)
    assert len(df) == 3
    assert df["usd_per_mtok"].is_monotonic_increasing  # ranked by $ per million tokens
    # $/M tokens = chips x $/chip-hour / (output tokens/s x 3600) x 1e6, row by row
    recomputed = df["num_chips"] * df["usd_per_chip_hour"] / (df["system_tokens_per_s"] * 3600) * 1e6
    assert (abs(recomputed / df["usd_per_mtok"] - 1) < 1e-9).all()
    data = json.loads(js.read_text())
    assert {r["chip"] for r in data["rows"]} == {"nvidia-h100-sxm", "nvidia-h200-sxm", "google-tpu-v6e"}
    assert set(df["decode_bound"]) <= {"memory", "compute", "network"}


def test_compare_says_in_one_column_where_each_chips_efficiencies_come_from(capsys):
    # H100 SXM has measured rows of its own; TPU v7 none, but its family is fitted; Ascend 950PR has
    # no fitted family; Cerebras WSE-3 carries its own spatial fit. -v adds one basis line per chip.
    code, out, _ = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips",
                       "nvidia-h100-sxm,google-tpu-v7,huawei-ascend-950pr,cerebras-wse3", "-v")
    assert code == 0
    source = {line.split()[1]: line.split()[2] for line in out.splitlines() if line[:2].strip().isdigit()}
    assert source == {"nvidia-h100-sxm": "own", "google-tpu-v7": "family", "huawei-ascend-950pr": "prior",
                      "cerebras-wse3": "spatial"}
    assert "eff: where the chip's efficiencies come from" in out
    assert "  google-tpu-v7: family google-tpu fit on" in out


def test_compare_without_budget_ranks_by_tokens_per_chip_and_uncertainty_adds_bands(capsys, tmp_path):
    csv = tmp_path / "a.csv"
    code, _, _ = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm,nvidia-b200,amd-mi300x",
                     "--budget", "none", "--csv", str(csv))
    df = pd.read_csv(csv)
    assert code == 0 and "usd_per_mtok" not in df.columns and df["tokens_per_s_per_chip"].is_monotonic_decreasing
    code, out, _ = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm,nvidia-b200",
                       "--uncertainty", "2000", "--csv", str(csv))
    df = pd.read_csv(csv)
    assert code == 0 and "P10-P90" in out
    assert (df["usd_per_mtok_p10"] < df["usd_per_mtok_p90"]).all()


def test_latency_objective_is_faster_per_user_than_throughput(capsys, tmp_path):
    paths = {}
    for obj in ("throughput", "latency"):
        paths[obj] = tmp_path / f"{obj}.csv"
        code, _, _ = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm",
                         "--num-chips", "8", "--objective", obj, "--csv", str(paths[obj]))
        assert code == 0
    thr, lat = (pd.read_csv(paths[o]).iloc[0] for o in ("throughput", "latency"))
    assert lat["user_tokens_per_s"] > thr["user_tokens_per_s"]
    assert thr["system_tokens_per_s"] > lat["system_tokens_per_s"]
    assert thr["num_chips"] == 8


def test_explain_prints_both_phases(capsys):
    code, out, _ = run(capsys, "explain", "--chip", "nvidia-h200-sxm", "--model", "mixtral-8x7b", "--batch", "16")
    assert code == 0
    assert "prefill of one 1024-token prompt" in out and "decode step at batch 16" in out
    assert "moe_experts" in out


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_roofline_writes_a_figure(capsys, tmp_path, suffix):
    path = tmp_path / f"roof{suffix}"
    code, out, _ = run(capsys, "roofline", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "-o", str(path))
    assert code == 0 and path.exists() and path.stat().st_size > 10_000
    head = path.read_bytes()[:8]
    assert head.startswith(b"\x89PNG") if suffix == ".png" else b"<?xml" in head or b"<svg" in head


def test_specs_list_show_check(capsys):
    code, out, _ = run(capsys, "specs", "list")
    assert code == 0 and "groq-lpu-v1" in out and "deepseek-r1" in out
    code, out, _ = run(capsys, "specs", "show", "nvidia-b200")
    assert code == 0 and "[provenance]" in out
    code, out, _ = run(capsys, "specs", "check")
    assert code == 0 and "OK" in out


def test_specs_check_reports_every_error_and_exits_2(capsys, tmp_path):
    bad = tmp_path / "nvidia-h100-sxm.toml"
    bad.write_text(H100.read_text().replace("tdp_w = 700", "tdp_watts = 700"))
    code, out, err = run(capsys, "specs", "check", str(tmp_path))
    assert code == 2 and "tdp_watts" in out and "did you mean 'tdp_w'" in out


# ---- bad input: one line naming what is wrong and how to fix it, exit 2 ----------------------
def test_unknown_chip(capsys):
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sx")
    assert_one_line_error(code, err, "unknown chip id 'nvidia-h100-sx'", "did you mean")


def test_unknown_model(capsys):
    code, _, err = run(capsys, "compare", "--model", "llama-9", "--chips", "nvidia-h100-sxm")
    assert_one_line_error(code, err, "unknown model id 'llama-9'")


def test_wrong_key_in_a_user_spec(capsys, tmp_path):
    (tmp_path / "my-gpu.toml").write_text(
        H100.read_text().replace('id = "nvidia-h100-sxm"', 'id = "my-gpu"').replace("tdp_w = 700", "tdp = 700"))
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "my-gpu", "--specs-dir", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert "my-gpu.toml: unknown key 'power.tdp'" in err and "did you mean 'tdp_w'" in err


def test_missing_field_in_a_user_spec(capsys, tmp_path):
    (tmp_path / "my-gpu.toml").write_text(
        H100.read_text().replace('id = "nvidia-h100-sxm"', 'id = "my-gpu"').replace("tdp_w = 700", ""))
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "my-gpu", "--specs-dir", str(tmp_path))
    assert code == 2 and "missing field 'power.tdp_w'" in err and "Traceback" not in err


def test_compute_dtype_the_chip_lacks(capsys):
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-a100-sxm-80gb",
                       "--weight-dtype", "fp8", "--compute-dtype", "fp8")
    assert_one_line_error(code, err, "has no fp8 math")


def test_weight_only_quantization_when_the_chip_lacks_the_math(capsys, tmp_path):
    # fp8 weights on an A100 (no fp8 math): read 1 byte per weight, compute in bf16
    csv = tmp_path / "a.csv"
    code, out, _ = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-a100-sxm-80gb",
                       "--weight-dtype", "fp8", "--csv", str(csv))
    row = pd.read_csv(csv).iloc[0]
    assert code == 0 and row["compute_dtype"] == "bf16" and bool(row["weight_only"]) and "weight-only" in out


def test_unknown_dtype_name(capsys):
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm",
                       "--weight-dtype", "fp9")
    assert_one_line_error(code, err, "unknown weight dtype 'fp9'")


def test_model_that_does_not_fit(capsys):
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-405b", "--chips", "nvidia-h100-sxm",
                       "--num-chips", "1")
    assert_one_line_error(code, err, "needs at least", "raise --num-chips")


def test_bad_number_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compare", "--model", "llama-3.1-8b", "--input-len", "-5"])
    assert e.value.code == 2


def test_console_script_end_to_end_no_traceback():
    # the real entry point in a fresh process: bad input gives exit 2 and one line
    proc = subprocess.run([sys.executable, "-m", "infersim", "compare", "--model", "nope",
                           "--chips", "nvidia-h100-sxm"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("infersim: error: unknown model id 'nope'")
    assert "Traceback" not in proc.stderr


def test_tco_breakdown_and_tornado(capsys, tmp_path):
    code, out, _ = run(capsys, "tco", "--chips", "nvidia-h100-sxm,google-tpu-v7", "--tornado", "5", "-o", str(tmp_path))
    assert code == 0
    assert "finance.chip_useful_life_years" in out and (tmp_path / "tornado-google-tpu-v7.png").exists()
    # the components add up to the total in the printed table
    row = next(line for line in out.splitlines() if line.startswith("nvidia-h100-sxm ")).split()
    chip, hbm, server, scaleup, network, facility, power, upkeep, rent, total = map(float, row[2:12])
    assert chip + server + scaleup + network + facility + power + upkeep + rent == pytest.approx(total, abs=0.006)


@pytest.mark.jit_only
def test_goodput_pareto_and_disagg_commands(capsys, tmp_path):
    code, out, _ = run(capsys, "goodput", "--chip", "nvidia-h100-sxm", "--model", "llama-3.1-8b", "--traffic", "chat")
    assert code == 0 and "goodput" in out and "requests/s" in out
    code, out, _ = run(capsys, "pareto", "--model", "llama-3.1-8b", "--chips", "nvidia-h100-sxm,amd-mi300x",
                       "-o", str(tmp_path))
    front = pd.read_csv(tmp_path / "frontier.csv")
    assert code == 0 and (tmp_path / "frontier.png").exists() and set(front["chip"]) == {"nvidia-h100-sxm", "amd-mi300x"}
    code, out, _ = run(capsys, "disagg", "--model", "llama-3.1-8b", "--traffic", "chat", "--prefill-chips",
                       "nvidia-h100-sxm", "--decode-chips", "nvidia-h200-sxm")
    assert code == 0 and "disaggregated" in out and "co-located" in out
    code, _, err = run(capsys, "disagg", "--model", "llama-3.1-8b", "--prefill-chips", "nvidia-h100-sxm",
                       "--decode-chips", "nvidia-h200-sxm")
    assert_one_line_error(code, err, "give --max-ttft-ms and --max-tpot-ms")


def test_compare_with_mtp_and_its_mistakes(capsys, tmp_path):
    path = tmp_path / "mtp.csv"
    code, out, _ = run(capsys, "compare", "--model", "deepseek-r1", "--weight-dtype", "fp8", "--chips",
                       "nvidia-h200-sxm", "--max-tpot-ms", "50", "--speculative", "mtp", "--csv", str(path))
    assert code == 0
    assert pd.read_csv(path).iloc[0]["speculative"] == "mtp k=1 a=0.85"
    code, _, err = run(capsys, "compare", "--model", "deepseek-r1", "--chips", "nvidia-h200-sxm", "--acceptance", "0.8")
    assert_one_line_error(code, err, "--speculative")
    code, _, err = run(capsys, "compare", "--model", "llama-3.1-70b", "--chips", "nvidia-h200-sxm",
                       "--speculative", "mtp")
    assert_one_line_error(code, err, "no multi-token-prediction module")
