"""Bad input, as a hostile user gives it: every case exits 2 with exactly one line on stderr, no
traceback, and the line names the offending option, file or field.

Most cases run the CLI in this process (its stderr captured); `test_in_a_real_process` runs a
sample through `python -m infersim` in fresh processes, several per process."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infersim.cli import main

ROOT = Path(__file__).resolve().parents[1]
H100 = ROOT / "hardware_specs" / "gpu" / "nvidia-h100-sxm.toml"
BUDGET = ROOT / "hardware_specs" / "budgets" / "central-2025.toml"
CHAT = ROOT / "workloads" / "traffic" / "chat.toml"
SWEEP = ROOT / "workloads" / "sweeps" / "hbm-bandwidth-what-if.toml"
SHOCK = ROOT / "workloads" / "scenarios" / "hbm-price-shock.toml"
CPU_ONLY = ROOT / "workloads" / "scenarios" / "cpu-only.toml"
LLAMA8B = ["--model", "llama-3.1-8b"]
H = "nvidia-h100-sxm"


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse errors exit through the parser
        return int(e.code)


def assert_one_line_error(code: int, err: str, needles) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("infersim: error:"), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


# ---- spec files written for a case --------------------------------------------------------------------
def _variant(src: Path, dest: Path, replacements, new_id: str) -> Path:
    text = src.read_text()
    old_id = f'id = "{src.stem}"'
    assert old_id in text
    text = text.replace(old_id, f'id = "{new_id}"', 1)
    for old, new in replacements:
        assert re.search(old, text, flags=re.M), (src, old)
        text = re.sub(old, new, text, count=1, flags=re.M)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest


def chip(*replacements):
    """A chip file 'my-chip' in a specs folder, priced by tco (no model search)."""
    def build(tmp: Path) -> list[str]:
        _variant(H100, tmp / "specs" / "my-chip.toml", replacements, "my-chip")
        return ["tco", "--chips", "my-chip", "--specs-dir", str(tmp / "specs")]
    return build


def budget(*replacements):
    def build(tmp: Path) -> list[str]:
        _variant(BUDGET, tmp / "specs" / "budgets" / "my-budget.toml", replacements, "my-budget")
        return ["tco", "--chips", H, "--budget", "my-budget", "--specs-dir", str(tmp / "specs")]
    return build


def traffic(*replacements):
    def build(tmp: Path) -> list[str]:
        _variant(CHAT, tmp / "specs" / "traffic" / "my-traffic.toml", replacements, "my-traffic")
        return ["compare", *LLAMA8B, "--chips", H, "--traffic", "my-traffic", "--specs-dir", str(tmp / "specs")]
    return build


def sweep(*replacements, extra=()):
    def build(tmp: Path) -> list[str]:
        path = _variant(SWEEP, tmp / "bad.toml", replacements, "bad")
        return ["sweep", str(path), "-o", str(tmp / "out.csv"), *extra]
    return build


def scenario(*replacements, src=SHOCK):
    def build(tmp: Path) -> list[str]:
        path = _variant(src, tmp / "bad.toml", replacements, "bad")
        return ["scenario", "run", str(path)]
    return build


CONFIG = {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
          "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
          "max_position_embeddings": 131072}


def config(**fields):
    """A Hugging Face config.json with some fields changed (None removes one)."""
    def build(tmp: Path) -> list[str]:
        cfg = {k: v for k, v in {**CONFIG, **fields}.items() if v is not None}
        path = tmp / "m" / "config.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(cfg))
        return ["explain", "--chip", H, "--model", str(path)]
    return build


def raw_file(content: bytes, where: str, argv):
    """A file with these bytes at `where` (relative to tmp); argv may use {tmp}."""
    def build(tmp: Path) -> list[str]:
        path = tmp / where
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return [a.format(tmp=tmp) for a in argv]
    return build


def in_tmp(*argv):
    """argv with {tmp} replaced by the case's temporary folder."""
    return lambda tmp: [a.format(tmp=tmp) for a in argv]


def with_files(files: dict[str, bytes | None], *argv):
    """Files (None: a folder) under tmp, then argv with {tmp}."""
    def build(tmp: Path) -> list[str]:
        for name, content in files.items():
            p = tmp / name
            if content is None:
                p.mkdir(parents=True, exist_ok=True)
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(content)
        return [a.format(tmp=tmp) for a in argv]
    return build


CMP = ["compare", *LLAMA8B, "--chips", H]
EXPLAIN = ["explain", "--chip", H, *LLAMA8B]
TCO = ["tco", "--chips", H]
ROOF = ["roofline", "--chip", H, *LLAMA8B]
SPEC = ["speculate", "--chip", H, *LLAMA8B]
DEEP = ("x = " + "[" * 5000 + "]" * 5000 + "\n").encode()

# (case id, argv or argv builder, words the one line must contain)
CASES = [
    # ---- output paths: checked before any work ----
    ("csv-missing-folder", CMP + ["--csv", "/proc/nope/x.csv"], ["--csv", "/proc/nope", "does not exist"]),
    ("csv-unwritable-folder", CMP + ["--csv", "/proc/x.csv"], ["--csv", "cannot create a file"]),
    ("csv-is-a-folder", in_tmp(*CMP, "--csv", "{tmp}"), ["--csv", "is a folder"]),
    ("csv-wrong-suffix", CMP + ["--csv", "x.txt"], ["--csv", "must end in .csv"]),
    ("json-wrong-suffix", CMP + ["--json", "x.csv"], ["--json", "must end in .json"]),
    ("csv-empty", CMP + ["--csv", ""], ["--csv is empty"]),
    ("csv-under-a-file", CMP + ["--csv", f"{H100}/x.csv"], ["--csv", "is not a folder"]),
    ("csv-is-a-device", CMP + ["--csv", "/dev/null"], ["--csv", "must end in .csv"]),
    ("explain-csv-folder-missing", EXPLAIN + ["--csv", "/nonexistent-dir/e.csv"], ["--csv", "does not exist"]),
    ("roofline-gif", ROOF + ["-o", "roof.gif"], ["--output", ".png, .svg or .pdf"]),
    ("roofline-folder", in_tmp(*ROOF, "-o", "{tmp}"), ["--output", "is a folder"]),
    ("roofline-missing-folder", ROOF + ["-o", "/nonexistent-dir/r.png"], ["--output", "does not exist"]),
    ("tco-output-is-a-file", TCO + ["--tornado", "3", "-o", str(H100)], ["--output", "is not a folder"]),
    ("tco-output-without-tornado", in_tmp(*TCO, "-o", "{tmp}"), ["--output", "--tornado"]),
    ("tco-output-parent-missing", TCO + ["--tornado", "3", "-o", "/nonexistent-dir/a/b"], ["--output", "does not exist"]),
    ("pareto-two-outputs-one-path", in_tmp("pareto", *LLAMA8B, "--chips", H, "-o", "{tmp}/p", "--csv",
                                           "{tmp}/p/frontier.csv"), ["same file", "frontier.csv"]),
    ("pareto-output-a-file", ["pareto", *LLAMA8B, "--chips", H, "-o", str(H100)], ["--output", "is not a folder"]),
    ("sweep-output-txt", ["sweep", "hbm-bandwidth-what-if", "-o", "x.txt"], ["--output", "must end in"]),
    ("sweep-output-folder", in_tmp("sweep", "hbm-bandwidth-what-if", "-o", "{tmp}"), ["--output", "is a folder"]),
    ("sweep-output-missing-folder", ["sweep", "hbm-bandwidth-what-if", "-o", "/nonexistent-dir/s.csv"],
     ["--output", "does not exist"]),
    ("scenario-output-a-file", ["scenario", "run", "hbm-price-shock", "-o", str(H100)], ["--output", "not a folder"]),
    ("validate-json-suffix", ["validate", str(ROOT / "benchmarks" / "accuracy" / "calibration.csv"), "--json",
                              "v.csv"], ["--json", "must end in .json"]),
    ("tco-csv-suffix", TCO + ["--csv", "t.json"], ["--csv", "must end in .csv"]),
    # ---- numbers given as options ----
    ("input-len-zero", CMP + ["--input-len", "0"], ["--input-len", "got 0"]),
    ("input-len-negative", CMP + ["--input-len", "-5"], ["--input-len", "got -5"]),
    ("input-len-text", CMP + ["--input-len", "abc"], ["--input-len", "'abc'"]),
    ("input-len-fraction", CMP + ["--input-len", "1.5"], ["--input-len", "'1.5'"]),
    ("input-len-huge", CMP + ["--input-len", "1000000000000"], ["--input-len", "1,000,000,000"]),
    ("input-len-nan", CMP + ["--input-len", "nan"], ["--input-len", "'nan'"]),
    ("output-len-zero", CMP + ["--output-len", "0"], ["--output-len"]),
    ("output-len-inf", CMP + ["--output-len", "inf"], ["--output-len", "'inf'"]),
    ("batch-zero", EXPLAIN + ["--batch", "0"], ["--batch", "got 0"]),
    ("batch-billion", EXPLAIN + ["--batch", "1000000000"], ["--batch", "1,000,000"]),
    ("batch-text", EXPLAIN + ["--batch", "many"], ["--batch", "'many'"]),
    ("num-chips-zero", CMP + ["--num-chips", "0"], ["--num-chips"]),
    ("num-chips-million", CMP + ["--num-chips", "1000000"], ["--num-chips", "100,000"]),
    ("ttft-nan", CMP + ["--max-ttft-ms", "nan"], ["--max-ttft-ms", "nan"]),
    ("ttft-inf", CMP + ["--max-ttft-ms", "inf"], ["--max-ttft-ms", "inf"]),
    ("ttft-negative", CMP + ["--max-ttft-ms", "-1"], ["--max-ttft-ms", "got -1"]),
    ("ttft-zero", CMP + ["--max-ttft-ms", "0"], ["--max-ttft-ms", "above 0"]),
    ("ttft-text", CMP + ["--max-ttft-ms", "fast"], ["--max-ttft-ms", "'fast'"]),
    ("tpot-nan", CMP + ["--max-tpot-ms", "NaN"], ["--max-tpot-ms"]),
    ("tpot-negative-inf", CMP + ["--max-tpot-ms", "-inf"], ["--max-tpot-ms"]),
    ("uncertainty-too-few", CMP + ["--uncertainty", "5"], ["--uncertainty", "got 5"]),
    ("uncertainty-negative", CMP + ["--uncertainty", "-1"], ["--uncertainty"]),
    ("uncertainty-huge", CMP + ["--uncertainty", "1000000000000"], ["--uncertainty", "1,000,000"]),
    ("uncertainty-without-budget", CMP + ["--budget", "none", "--uncertainty", "1000"], ["--uncertainty", "budget"]),
    ("rank-by-cost-without-budget", CMP + ["--budget", "none", "--rank-by", "usd_per_mtok"], ["--rank-by"]),
    ("rank-by-unknown", CMP + ["--rank-by", "speed"], ["--rank-by", "speed"]),
    ("objective-unknown", CMP + ["--objective", "cheap"], ["--objective", "cheap"]),
    ("tornado-negative", TCO + ["--tornado", "-3"], ["--tornado", "got -3"]),
    ("tornado-zero", TCO + ["--tornado", "0"], ["--tornado", "got 0"]),
    ("tornado-text", TCO + ["--tornado", "all"], ["--tornado", "'all'"]),
    ("acceptance-nan", SPEC + ["--acceptance", "nan"], ["--acceptance", "nan"]),
    ("acceptance-one", SPEC + ["--acceptance", "1"], ["--acceptance", "below 1"]),
    ("acceptance-negative", SPEC + ["--acceptance", "-0.1"], ["--acceptance"]),
    ("acceptance-above-one", SPEC + ["--acceptance", "2"], ["--acceptance", "got 2"]),
    ("max-k-zero", SPEC + ["--max-k", "0"], ["--max-k"]),
    ("max-k-huge", SPEC + ["--max-k", "100000"], ["--max-k", "64"]),
    ("chunk-zero", ["sweep", "hbm-bandwidth-what-if", "--chunk", "0"], ["--chunk"]),
    ("chunk-huge", ["sweep", "hbm-bandwidth-what-if", "--chunk", "100000000000"], ["--chunk", "10,000,000,000"]),
    ("show-zero", ["sweep", "hbm-bandwidth-what-if", "--show", "0"], ["--show"]),
    ("roofline-batches-text", ROOF + ["--batches", "1,abc"], ["--batches", "'abc'"]),
    ("roofline-batches-zero", ROOF + ["--batches", "0,8"], ["--batches", "got 0"]),
    ("roofline-batches-repeated", ROOF + ["--batches", "8,8"], ["--batches", "more than once"]),
    ("roofline-batches-empty", ROOF + ["--batches", ""], ["--batches"]),
    ("roofline-batches-too-big", ROOF + ["--batches", "8,900000"], ["--batches", "900000"]),
    ("price-basis-unknown", TCO + ["--price-basis", "free"], ["--price-basis", "free"]),
    ("weight-dtype-unknown", CMP + ["--weight-dtype", "fp9"], ["weight dtype 'fp9'"]),
    ("kv-dtype-unknown", CMP + ["--kv-dtype", "int3"], ["int3"]),
    ("compute-dtype-missing-on-chip", ["compare", *LLAMA8B, "--chips", "nvidia-a100-sxm-80gb", "--weight-dtype", "fp8",
                                       "--compute-dtype", "fp8"], ["fp8"]),
    # ---- id lists ----
    ("chips-empty", CMP[:-2] + ["--chips", ""], ["--chips is empty"]),
    ("chips-only-commas", CMP[:-2] + ["--chips", ",,"], ["--chips is empty"]),
    ("chips-repeated", CMP[:-2] + ["--chips", f"{H},{H}"], ["--chips", H, "more than once"]),
    ("chips-empty-entry", CMP[:-2] + ["--chips", f"{H},,amd-mi300x"], ["--chips", "empty entry"]),
    ("chips-trailing-comma", CMP[:-2] + ["--chips", f"{H},"], ["--chips", "empty entry"]),
    ("chips-unknown", CMP[:-2] + ["--chips", "nvidia-h100-sx"], ["unknown chip id 'nvidia-h100-sx'", "did you mean"]),
    ("tco-chips-empty", ["tco", "--chips", " "], ["--chips is empty"]),
    ("tco-chips-repeated", ["tco", "--chips", "google-tpu-v7,google-tpu-v7"], ["--chips", "more than once"]),
    ("pareto-chips-repeated", ["pareto", *LLAMA8B, "--chips", f"{H},{H}"], ["--chips", "more than once"]),
    ("disagg-prefill-empty", ["disagg", *LLAMA8B, "--traffic", "chat", "--prefill-chips", "", "--decode-chips", H],
     ["--prefill-chips is empty"]),
    ("disagg-decode-repeated", ["disagg", *LLAMA8B, "--traffic", "chat", "--prefill-chips", H, "--decode-chips",
                                f"{H},{H}"], ["--decode-chips", "more than once"]),
    ("model-unknown", ["compare", "--model", "llama-9", "--chips", H], ["unknown model id 'llama-9'"]),
    ("model-empty", ["compare", "--model", "", "--chips", H], ["model"]),
    ("traffic-unknown", CMP + ["--traffic", "chatty"], ["unknown traffic id 'chatty'"]),
    ("budget-unknown", TCO + ["--budget", "cheap"], ["unknown budget id 'cheap'"]),
    ("budget-a-chip-id", TCO + ["--budget", H], ["unknown budget id", "is a chip"]),
    ("draft-unknown", SPEC + ["--draft", "tiny"], ["unknown model id 'tiny'"]),
    ("specs-show-unknown", ["specs", "show", "nvidia-h100-sx"], ["unknown id 'nvidia-h100-sx'", "did you mean"]),
    ("sweep-unknown-id", ["sweep", "hbm-bandwith-what-if"], ["unknown sweep id", "did you mean"]),
    ("scenario-unknown-id", ["scenario", "run", "hbm-shock"], ["unknown scenario id"]),
    # ---- options that do not apply ----
    ("goodput-batch", ["goodput", "--chip", H, *LLAMA8B, "--batch", "8"], ["--batch"]),
    ("pareto-tpot", ["pareto", *LLAMA8B, "--chips", H, "--max-tpot-ms", "40"], ["--max-tpot-ms"]),
    ("disagg-num-chips", ["disagg", *LLAMA8B, "--traffic", "chat", "--prefill-chips", H, "--decode-chips", H,
                          "--num-chips", "4"], ["--num-chips"]),
    ("roofline-objective", ROOF + ["--objective", "latency"], ["--objective"]),
    ("speculate-objective", SPEC + ["--objective", "throughput"], ["--objective"]),
    ("sweep-scheduler-without-dask", ["sweep", "hbm-bandwidth-what-if", "--scheduler", "tcp://x:8786"],
     ["--scheduler", "--backend dask"]),
    ("sweep-scheduler-malformed", ["sweep", "hbm-bandwidth-what-if", "--backend", "dask", "--scheduler", "foo"],
     ["dask scheduler foo", "--scheduler"]),
    ("disagg-without-targets", ["disagg", *LLAMA8B, "--prefill-chips", H, "--decode-chips", H],
     ["--max-ttft-ms", "--max-tpot-ms"]),
    # ---- messages that name the right cause ----
    ("batch-that-does-not-fit", EXPLAIN + ["--batch", "1000000"], ["batch 1,000,000 does not fit", "--batch"]),
    ("model-that-does-not-fit", ["compare", "--model", "llama-3.1-405b", "--chips", H, "--num-chips", "1"],
     ["needs at least", "--num-chips"]),
    ("one-sequence-does-not-fit", CMP + ["--input-len", "1000000000", "--allow-long-context"],
     ["one sequence of 1,000,000,000+256 tokens does not fit", "--input-len"]),
    ("uncertainty-over-every-chip", ["compare", *LLAMA8B, "--uncertainty", "1000000"],
     ["--uncertainty 1,000,000 over", "memory"]),
    ("context-too-long", CMP + ["--input-len", "10000000"], ["max_position_embeddings = 131,072",
                                                             "--allow-long-context"]),
    ("context-too-long-output", CMP + ["--input-len", "130000", "--output-len", "2000"],
     ["max_position_embeddings", "--allow-long-context"]),
    ("heatmap-one-column", ["sweep", "hbm-bandwidth-what-if", "--heatmap", "tp"], ["--heatmap 'tp'", "two columns"]),
    ("heatmap-unknown-column", ["sweep", "hbm-bandwidth-what-if", "--heatmap", "tp,colour"], ["--heatmap", "colour"]),
    ("heatmap-same-column", ["sweep", "hbm-bandwidth-what-if", "--heatmap", "tp,tp"], ["--heatmap", "both axes"]),
    ("heatmap-value-column", ["sweep", "hbm-bandwidth-what-if", "--heatmap", "usd_per_mtok,chip"],
     ["--heatmap", "usd_per_mtok"]),
    ("specs-dir-missing", CMP + ["--specs-dir", "/nonexistent-dir"], ["/nonexistent-dir", "does not exist"]),
    ("specs-dir-a-file", CMP + ["--specs-dir", str(H100)], ["is a file, not a folder"]),
    ("specs-check-empty-folder", with_files({"empty": None}, "specs", "check", "{tmp}/empty"),
     ["empty", "no .toml spec file"]),
    ("specs-check-missing-path", ["specs", "check", "/nonexistent-dir/x.toml"], ["no such file"]),
    # ---- chip spec files ----
    ("chip-tdp-inf", chip(("^tdp_w = 700", "tdp_w = inf")), ["my-chip.toml", "power.tdp_w", "finite", "inf"]),
    ("chip-tdp-nan", chip(("^tdp_w = 700", "tdp_w = nan")), ["power.tdp_w", "finite"]),
    ("chip-tdp-negative", chip(("^tdp_w = 700", "tdp_w = -700")), ["power.tdp_w", "> 0", "-700"]),
    ("chip-tdp-zero", chip(("^tdp_w = 700", "tdp_w = 0")), ["power.tdp_w", "> 0"]),
    ("chip-tdp-bool", chip(("^tdp_w = 700", "tdp_w = true")), ["power.tdp_w", "must be a number", "true"]),
    ("chip-tdp-text", chip(("^tdp_w = 700", 'tdp_w = "700"')), ["power.tdp_w", "must be a number"]),
    ("chip-tdp-absurd", chip(("^tdp_w = 700", "tdp_w = 1e30")), ["power.tdp_w", "<= 1e+08"]),
    ("chip-bf16-inf", chip(("^bf16 = 989.4e12", "bf16 = inf")), ["compute.dense_flops_per_s.bf16", "finite"]),
    ("chip-bf16-negative", chip(("^bf16 = 989.4e12", "bf16 = -1")), ["compute.dense_flops_per_s.bf16"]),
    ("chip-hbm-bw-inf", chip(("^bandwidth_bytes_per_s = 3.35e12", "bandwidth_bytes_per_s = inf")),
     ["memory.offchip.bandwidth_bytes_per_s", "finite"]),
    ("chip-hbm-capacity-zero", chip(("^capacity_bytes = 80e9", "capacity_bytes = 0")),
     ["memory.offchip.capacity_bytes", "> 0"]),
    ("chip-scaleout-zero", chip(("^scaleout_bw_bytes_per_s_per_direction = 50e9",
                                 "scaleout_bw_bytes_per_s_per_direction = 0")),
     ["interconnect.scaleout_bw_bytes_per_s_per_direction", "> 0"]),
    ("chip-scaleup-zero-with-domain", chip(("^scaleup_bw_bytes_per_s_per_direction = 450e9",
                                            "scaleup_bw_bytes_per_s_per_direction = 0")),
     ["interconnect", "scaleup_domain_chips = 1"]),
    ("chip-domain-zero", chip(("^scaleup_domain_chips = 8", "scaleup_domain_chips = 0")),
     ["interconnect.scaleup_domain_chips"]),
    ("chip-domain-fraction", chip(("^scaleup_domain_chips = 8", "scaleup_domain_chips = 1.5")),
     ["interconnect.scaleup_domain_chips", "whole number"]),
    ("chip-latency-negative", chip(("^scaleup_latency_s = 2e-6", "scaleup_latency_s = -2e-6")),
     ["interconnect.scaleup_latency_s"]),
    ("chip-margin-one", chip(("gross_margin_fraction = .*", "gross_margin_fraction = { low = 0.8, central = 0.9, "
                                                           "high = 1.0 }")),
     ["price.bom.gross_margin_fraction.high", "< 1"]),
    ("chip-margin-two", chip(("gross_margin_fraction = .*", "gross_margin_fraction = { low = 2, central = 2, "
                                                           "high = 2 }")), ["gross_margin_fraction"]),
    ("chip-price-negative", chip(("^market_usd = .*", "market_usd = { low = -25000, central = -25000, high = -25000 }")),
     ["price.market_usd", "-25000"]),
    ("chip-price-inf", chip(("^market_usd = .*", "market_usd = { low = 1, central = inf, high = inf }")),
     ["price.market_usd.central", "finite"]),
    ("chip-price-unordered", chip(("^market_usd = .*", "market_usd = { low = 30000, central = 25000, high = 20000 }")),
     ["price.market_usd", "low <= central <= high"]),
    ("chip-efficiency-zero", chip(("^prefill_compute = .*", "prefill_compute = 0")), ["efficiency.prefill_compute"]),
    ("chip-efficiency-above-one", chip(("^decode_compute = .*", "decode_compute = 1.5")), ["efficiency.decode_compute"]),
    ("chip-usable-memory-nan", chip(("^usable_memory_fraction = .*", "usable_memory_fraction = nan")),
     ["efficiency.usable_memory_fraction"]),
    ("chip-overhead-inf", chip(("^step_overhead_s = .*", "step_overhead_s = inf")), ["efficiency.step_overhead_s"]),
    ("chip-rental-negative", chip(("^usd_per_chip_hour = 4.916", "usd_per_chip_hour = -4.9")),
     ["price.rental.0.usd_per_chip_hour"]),
    ("chip-unknown-key", chip(("^tdp_w = 700", "tdp_watts = 700")), ["unknown key 'power.tdp_watts'", "tdp_w"]),
    ("chip-missing-key", chip(("^tdp_w = 700", "")), ["missing field 'power.tdp_w'"]),
    ("chip-bad-toml", chip(("^tdp_w = 700", "tdp_w = = 700")), ["my-chip.toml", "not valid TOML"]),
    ("chip-kind-unknown", chip(('^kind = "gpu"', 'kind = "tpu"')), ["field 'kind'", "'tpu'"]),
    ("chip-schema-version-bool", chip(("^schema_version = 1", "schema_version = true")), ["schema_version"]),
    # ---- budget files ----
    ("budget-life-zero", budget(("^chip_useful_life_years = .*", "chip_useful_life_years = { low = 0, central = 0, "
                                                                  "high = 0 }")),
     ["my-budget.toml", "finance.chip_useful_life_years", "> 0"]),
    ("budget-life-inf", budget(("^chip_useful_life_years = .*", "chip_useful_life_years = { low = 3, central = 5, "
                                                                 "high = inf }")), ["chip_useful_life_years.high"]),
    ("budget-facility-life-zero", budget(("^facility_life_years = .*", "facility_life_years = { low = 0, central = 15, "
                                                                        "high = 20 }")), ["facility_life_years.low"]),
    ("budget-pue-zero", budget(("^pue = .*", "pue = { low = 0, central = 0, high = 0 }")), ["facility.pue", ">= 1"]),
    ("budget-pue-below-one", budget(("^pue = .*", "pue = { low = 0.9, central = 1.2, high = 1.5 }")),
     ["facility.pue.low", ">= 1"]),
    ("budget-electricity-negative", budget(("^electricity_usd_per_kwh = .*", "electricity_usd_per_kwh = { low = -0.1, "
                                                                              "central = 0.08, high = 0.12 }")),
     ["facility.electricity_usd_per_kwh.low", ">= 0"]),
    ("budget-electricity-nan", budget(("^electricity_usd_per_kwh = .*", "electricity_usd_per_kwh = { low = 0.05, "
                                                                         "central = nan, high = 0.12 }")),
     ["electricity_usd_per_kwh.central", "finite"]),
    ("budget-rate-negative", budget(("^cost_of_capital_per_year = .*", "cost_of_capital_per_year = { low = -0.1, "
                                                                        "central = 0.1, high = 0.15 }")),
     ["finance.cost_of_capital_per_year.low"]),
    ("budget-rate-huge", budget(("^cost_of_capital_per_year = .*", "cost_of_capital_per_year = { low = 0.1, "
                                                                    "central = 5, high = 9 }")),
     ["finance.cost_of_capital_per_year"]),
    ("budget-unordered", budget(("^pue = .*", "pue = { low = 1.5, central = 1.25, high = 1.1 }")),
     ["facility.pue", "low <= central <= high"]),
    ("budget-average-power-zero", budget(("^average_power_fraction = .*", "average_power_fraction = { low = 0, "
                                                                          "central = 0.6, high = 0.75 }")),
     ["power_use.average_power_fraction.low"]),
    ("budget-average-power-above-one", budget(("^average_power_fraction = .*", "average_power_fraction = { low = 0.5, "
                                                                               "central = 0.6, high = 1.5 }")),
     ["power_use.average_power_fraction.high"]),
    ("budget-hbm-price-negative", budget(("^hbm3_usd_per_gb = .*", "hbm3_usd_per_gb = { low = -1, central = 16.5, "
                                                                    "high = 17.5 }")), ["hbm.hbm3_usd_per_gb.low"]),
    ("budget-upkeep-inf", budget(("^upkeep_fraction_of_capital_charge = .*",
                                  "upkeep_fraction_of_capital_charge = { low = 0.1, central = 0.2, high = inf }")),
     ["upkeep_fraction_of_capital_charge.high"]),
    ("budget-switch-capacity-zero", budget(("^switch_capacity_gbps = 51200", "switch_capacity_gbps = 0")),
     ["switch_capacity_gbps"]),
    ("budget-range-text", budget(("^pue = .*", 'pue = { low = "1.1", central = 1.25, high = 1.55 }')),
     ["facility.pue.low", "must be a number"]),
    # ---- traffic files ----
    ("traffic-mean-inf", traffic(("^mean_tokens = 1155", "mean_tokens = inf")), ["my-traffic.toml",
                                                                                  "input.mean_tokens", "finite"]),
    ("traffic-mean-zero", traffic(("^mean_tokens = 1155", "mean_tokens = 0")), ["input.mean_tokens", ">= 1"]),
    ("traffic-mean-negative", traffic(("^mean_tokens = 211", "mean_tokens = -5")), ["output.mean_tokens"]),
    ("traffic-cv-negative", traffic(("^cv = 0.53", "cv = -1")), ["input.cv"]),
    ("traffic-max-below-mean", traffic(("^max_tokens = 14050", "max_tokens = 100")), ["input", "max_tokens 100"]),
    ("traffic-target-zero", traffic(("^ttft_target_s = 0.45", "ttft_target_s = 0")), ["ttft_target_s", "> 0"]),
    ("traffic-target-nan", traffic(("^tpot_target_s = 0.040", "tpot_target_s = nan")), ["tpot_target_s", "finite"]),
    ("traffic-kind-unknown", traffic(('^kind = "lognormal"', 'kind = "pareto"')), ["input.kind", "'pareto'"]),
    ("traffic-mean-bool", traffic(("^mean_tokens = 1155", "mean_tokens = true")), ["input.mean_tokens", "number"]),
    ("traffic-mean-past-context", traffic(("^mean_tokens = 1155", "mean_tokens = 200000"), ("^max_tokens = 14050",
                                                                                           "max_tokens = 300000")),
     ["max_position_embeddings", "--allow-long-context"]),
    # ---- sweep files ----
    ("sweep-budget-scale-empty", sweep(("^electricity = .*", "electricity = []")),
     ["bad.toml", "budget_scale.electricity", "at least 1"]),
    ("sweep-tp-empty", sweep(("^tp = .*", "tp = []")), ["field 'tp'", "at least 1"]),
    ("sweep-tp-zero", sweep(("^tp = .*", "tp = [0]")), ["field 'tp.0'", ">= 1"]),
    ("sweep-tp-repeated", sweep(("^tp = .*", "tp = [1, 2, 2]")), ["tp", "2 more than once"]),
    ("sweep-batch-fraction", sweep(("^batch = .*", "batch = [1.5]")), ["batch.0", "whole number"]),
    ("sweep-input-len-inf", sweep(("^input_len = .*", "input_len = [inf]")), ["input_len.0"]),
    ("sweep-models-empty", sweep(("^models = .*", "models = []")), ["field 'models'", "at least 1"]),
    ("sweep-chips-repeated", sweep(("^chips = .*", f'chips = ["{H}", "{H}"]')), ["chips", "more than once"]),
    ("sweep-scale-inf", sweep(("^memory_bandwidth = .*", "memory_bandwidth = [1.0, inf]")),
     ["scale.memory_bandwidth.1", "finite"]),
    ("sweep-scale-negative", sweep(("^memory_capacity = .*", "memory_capacity = [-1.0]")), ["scale.memory_capacity.0"]),
    ("sweep-top-k-negative", sweep(("^top_k = 3", "top_k = -1")), ["reduce.top_k"]),
    ("sweep-price-basis-unknown", sweep(('^budget = "central-2025"', 'budget = "central-2025"\nprice_basis = "free"')),
     ["price_basis"]),
    ("sweep-target-nan", sweep(("^max_tpot_ms = 100", "max_tpot_ms = nan")), ["reduce.max_tpot_ms", "finite"]),
    ("sweep-past-context", sweep(("^input_len = .*", "input_len = [256, 200000]")),
     ["max_position_embeddings", "allow_long_context"]),
    # -q: this sweep runs before it finds nothing, and its progress lines are not errors
    ("sweep-no-point-meets-targets", sweep(("^max_tpot_ms = 100", "max_tpot_ms = 0.001"),
                                           ("^chips = .*", f'chips = ["{H}"]'), ("^tp = .*", "tp = [1]"),
                                           ("^pp = .*", "pp = [1]"), ("^batch = .*", "batch = [1]"), extra=["-q"]),
     ["sweep 'bad'", "none of its", "TPOT <= 0.001 ms", "reduce.max_tpot_ms"]),
    ("sweep-too-large", sweep(("^batch = .*", "batch = [" + ", ".join(str(b) for b in range(1, 60001)) + "]"),
                              ("^input_len = .*", "input_len = [" + ", ".join(str(i) for i in range(1, 60001)) + "]"),
                              ("^output_len = .*", "output_len = [" + ", ".join(str(i) for i in range(1, 3001)) + "]")),
     ["sweep 'bad'", "points", "chunks", "shorten its axes"]),
    ("sweep-file-a-folder", with_files({"dir.toml": None}, "sweep", "{tmp}/dir.toml"), ["dir.toml", "is a folder"]),
    ("sweep-file-missing", ["sweep", "/nonexistent-dir/s.toml"], ["s.toml", "file not found"]),
    # ---- scenario files ----
    ("scenario-samples-few", scenario(('^budget = "central-2025"', 'budget = "central-2025"\nsamples = 10')),
     ["bad.toml", "samples", ">= 100"]),
    ("scenario-samples-huge", scenario(('^budget = "central-2025"', 'budget = "central-2025"\nsamples = 1000000000')),
     ["samples", "<= 1e+06"]),
    ("scenario-input-len-zero", scenario(("^input_len = 1155", "input_len = 0")), ["input_len", ">= 1"]),
    ("scenario-past-context", scenario(("^input_len = 1155", "input_len = 10000000")),
     ["max_position_embeddings", "allow_long_context = true"]),
    ("scenario-rate-negative", scenario(("^request_rates_per_s = .*", "request_rates_per_s = [-1, 1]"), src=CPU_ONLY),
     ["request_rates_per_s.0", "> 0"]),
    ("scenario-rate-inf", scenario(("^request_rates_per_s = .*", "request_rates_per_s = [1, inf]"), src=CPU_ONLY),
     ["request_rates_per_s.1", "finite"]),
    ("scenario-rate-repeated", scenario(("^request_rates_per_s = .*", "request_rates_per_s = [1, 1]"), src=CPU_ONLY),
     ["request_rates_per_s", "more than once"]),
    ("scenario-missing-kind-field", scenario(("^alt_budget = .*", "")), ["'budget_shock' scenario needs 'alt_budget'"]),
    ("scenario-chips-repeated", scenario(("^chips = .*", f'chips = ["{H}", "{H}"]')), ["chips", "more than once"]),
    ("scenario-no-chip-meets-target", scenario(("^max_tpot_ms = .*", "max_tpot_ms = 0.001"), ("^chips = .*",
                                                f'chips = ["{H}"]'), src=CPU_ONLY),
     ["scenario 'bad'", "TPOT <= 0.001 ms", "max_tpot_ms"]),
    ("scenario-ttft-text", scenario(("^input_len = 1155", 'input_len = 1155\nmax_ttft_ms = "fast"')),
     ["max_ttft_ms", "must be a number"]),
    # ---- model configs (config.json) ----
    ("config-layers-bool", config(num_hidden_layers=True), ["config.json", "num_hidden_layers", "whole number"]),
    ("config-hidden-negative", config(hidden_size=-1), ["hidden_size"]),
    ("config-heads-text", config(num_attention_heads="32"), ["num_attention_heads"]),
    ("config-vocab-float", config(vocab_size=1.5), ["vocab_size"]),
    ("config-context-zero", config(max_position_embeddings=0), ["max_position_embeddings"]),
    ("config-missing-layers", config(num_hidden_layers=None), ["num_hidden_layers"]),
    ("config-not-json", raw_file(b"{not json", "m/config.json", ["explain", "--chip", H, "--model", "{tmp}/m/config.json"]),
     ["config.json", "not valid JSON"]),
    ("config-a-list", raw_file(b"[1, 2]", "m/config.json", ["explain", "--chip", H, "--model", "{tmp}/m/config.json"]),
     ["config.json", "JSON object"]),
    ("config-deep", raw_file(b"[" * 100000 + b"]" * 100000, "m/config.json",
                             ["explain", "--chip", H, "--model", "{tmp}/m/config.json"]), ["config.json", "nested"]),
    ("config-binary", raw_file(b"\x00\x01\x02\xff", "m/config.json",
                               ["explain", "--chip", H, "--model", "{tmp}/m/config.json"]), ["config.json", "binary"]),
    ("config-latin1", raw_file('{"model_type": "caf\u00e9"}'.encode("latin-1"), "m/config.json",
                               ["explain", "--chip", H, "--model", "{tmp}/m/config.json"]), ["config.json", "UTF-8"]),
    ("config-missing", ["explain", "--chip", H, "--model", "/nonexistent-dir/config.json"], ["config.json"]),
    # ---- unreadable spec files ----
    ("chip-binary", raw_file(b"\x89PNG\r\n\x1a\n\x00\x00", "specs/my-chip.toml",
                             ["tco", "--chips", "my-chip", "--specs-dir", "{tmp}/specs"]), ["my-chip.toml", "binary"]),
    ("chip-latin1", raw_file('name = "Caf\u00e9"\n'.encode("latin-1"), "specs/my-chip.toml",
                             ["tco", "--chips", "my-chip", "--specs-dir", "{tmp}/specs"]), ["my-chip.toml", "UTF-8"]),
    ("chip-deeply-nested", raw_file(DEEP, "specs/my-chip.toml", ["tco", "--chips", "my-chip", "--specs-dir",
                                                                 "{tmp}/specs"]), ["my-chip.toml", "nested"]),
    ("chip-empty-file", raw_file(b"", "specs/my-chip.toml", ["tco", "--chips", "my-chip", "--specs-dir", "{tmp}/specs"]),
     ["my-chip.toml", "schema_version"]),
    ("sweep-binary", raw_file(b"\x00" * 64, "s.toml", ["sweep", "{tmp}/s.toml"]), ["s.toml", "binary"]),
    ("scenario-latin1", raw_file('name = "\u00e9t\u00e9"\n'.encode("latin-1"), "s.toml", ["scenario", "run",
                                                                                        "{tmp}/s.toml"]),
     ["s.toml", "UTF-8"]),
    ("specs-show-binary", raw_file(b"\x00\x01", "specs/my-chip.toml", ["specs", "show", "my-chip", "--specs-dir",
                                                                        "{tmp}/specs"]), ["my-chip.toml", "binary"]),
    ("chip-duplicate-id-in-one-folder", lambda tmp: (
        _variant(H100, tmp / "specs" / "gpu" / "my-chip.toml", [], "my-chip"),
        _variant(H100, tmp / "specs" / "asic" / "my-chip.toml", [], "my-chip"),
        ["tco", "--chips", "my-chip", "--specs-dir", str(tmp / "specs")])[-1],
     ["defined twice in one folder", "gpu/my-chip.toml", "asic/my-chip.toml"]),
]


@pytest.mark.parametrize("argv, needles", [pytest.param(a, n, id=i) for i, a, n in CASES])
def test_bad_input_one_line_exit_2(argv, needles, tmp_path, capsys):
    argv = argv(tmp_path) if callable(argv) else argv
    code = run_main(argv)
    err = capsys.readouterr().err
    assert_one_line_error(code, err, needles)


def test_there_are_at_least_150_bad_inputs():
    assert len(CASES) >= 150 and len({c[0] for c in CASES}) == len(CASES)


# ---- a sample in real processes: the console entry point, several cases per process --------------------
DRIVER = """
import io, json, sys, contextlib
from infersim.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    results.append([code, err.getvalue()])
print(json.dumps(results))
"""
SUBPROCESS_CASES = ["csv-missing-folder", "input-len-negative", "ttft-nan", "chips-empty", "chips-repeated",
                    "tornado-negative", "heatmap-one-column", "batch-that-does-not-fit", "specs-show-unknown",
                    "context-too-long", "goodput-batch", "acceptance-one"]


def test_in_a_real_process():
    by_id = {i: (a, n) for i, a, n in CASES}
    argvs = [by_id[c][0] for c in SUBPROCESS_CASES]
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(argvs)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    for case, (code, err) in zip(SUBPROCESS_CASES, json.loads(proc.stdout)):
        assert_one_line_error(code, err, by_id[case][1])


@pytest.mark.parametrize("case", ["chips-repeated", "input-len-zero", "chip-tdp-inf"])
def test_the_console_command_itself(case, tmp_path):
    """`python -m infersim ...` as a shell runs it: exit status 2 and one line, from the interpreter's view."""
    argv, needles = next((a, n) for i, a, n in CASES if i == case)
    argv = argv(tmp_path) if callable(argv) else argv
    proc = subprocess.run([sys.executable, "-m", "infersim", *argv], capture_output=True, text=True, timeout=300)
    assert_one_line_error(proc.returncode, proc.stderr, needles)


# ---- accepted on purpose -------------------------------------------------------------------------------
def test_a_utf8_bom_is_accepted(tmp_path, capsys):
    path = _variant(H100, tmp_path / "specs" / "my-chip.toml", [], "my-chip")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert run_main(["tco", "--chips", "my-chip", "--specs-dir", str(tmp_path / "specs")]) == 0
    assert "my-chip" in capsys.readouterr().out


def test_a_user_file_replacing_a_bundled_id_says_so_once(tmp_path, capsys):
    from infersim.specs import library as library_module

    library_module._NOTED.clear()
    _variant(H100, tmp_path / "specs" / "nvidia-h100-sxm.toml", [("^tdp_w = 700", "tdp_w = 750")], "nvidia-h100-sxm")
    for _ in range(2):
        assert run_main(["tco", "--chips", H, "--specs-dir", str(tmp_path / "specs")]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "in place of the bundled" in line]
    assert len(notes) == 1 and str(tmp_path) in notes[0] and "chip 'nvidia-h100-sxm'" in notes[0]


def test_one_bad_file_on_the_path_does_not_break_listing_or_comparing_the_others(tmp_path, capsys, monkeypatch):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "broken-chip.toml").write_bytes(b"\x00\xff binary")
    monkeypatch.setenv("INFERSIM_SPECS_PATH", str(specs))
    assert run_main(["specs", "list", "--chip"]) == 0
    out, err = capsys.readouterr()
    assert H in out and "broken-chip" not in out
    assert err.count("\n") == 1 and "broken-chip.toml" in err and "binary" in err
    # compare over every chip: the bad one is skipped with its reason, the others ranked
    code = run_main(["compare", *LLAMA8B, "--budget", "none", "--input-len", "128", "--output-len", "32"])
    out = capsys.readouterr().out
    assert code == 0 and "skipped broken-chip:" in out and "binary" in out and H in out
    # named explicitly, it is needed: an error naming the file
    code = run_main(["tco", "--chips", "broken-chip"])
    assert_one_line_error(code, capsys.readouterr().err, ["broken-chip.toml", "binary"])


def test_specs_check_reports_a_duplicate_id(tmp_path, capsys):
    _variant(H100, tmp_path / "specs" / "gpu" / "my-chip.toml", [], "my-chip")
    _variant(H100, tmp_path / "specs" / "asic" / "my-chip.toml", [], "my-chip")
    code = run_main(["specs", "check", "--specs-dir", str(tmp_path / "specs")])
    out = capsys.readouterr().out
    assert code == 2 and "defined twice in one folder" in out


def test_long_context_is_modelled_when_asked(capsys):
    assert run_main([*CMP, "--input-len", "200000", "--allow-long-context", "--budget", "none"]) == 0
    assert "200000 input" in capsys.readouterr().out


def test_a_heatmap_over_two_named_axes(tmp_path, capsys):
    """--heatmap chip,model: names on both axes (the x labels were formatted as numbers: a ValueError)."""
    assert run_main(["sweep", "hbm-bandwidth-what-if", "-o", str(tmp_path / "s.csv"), "--heatmap", "chip,model",
                     "-q"]) == 0
    assert (tmp_path / "s-heatmap.png").stat().st_size > 10_000


def test_specs_show_finds_a_sweep(capsys):
    assert run_main(["specs", "show", "hbm-bandwidth-what-if"]) == 0
    assert capsys.readouterr().out.startswith("# sweep hbm-bandwidth-what-if")


def test_a_model_with_a_trillion_layers_does_not_hang(tmp_path, capsys):
    """The mapping search is bounded by MAX_CHIPS, not by the layer count: an answer (it does not fit) at once."""
    argv = config(num_hidden_layers=10**12)(tmp_path)
    code = run_main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
