"""The bundled spec library: complete, valid, and every number carries its source."""

import re
from pathlib import Path

import pytest

from infersim.specs.library import check_file

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILES = sorted((ROOT / "hardware_specs").rglob("*.toml")) + sorted((ROOT / "workloads").rglob("*.toml"))

REQUIRED_CHIPS = """nvidia-a100-sxm-80gb nvidia-h100-sxm nvidia-h100-pcie nvidia-h100-nvl nvidia-h200-sxm nvidia-gh200
nvidia-b200 nvidia-gb200 nvidia-b300 nvidia-gb300 nvidia-l40s nvidia-rtx-pro-6000 nvidia-rtx-4090 nvidia-rubin
nvidia-rubin-cpx amd-mi300x amd-mi325x amd-mi355x intel-gaudi2 intel-gaudi3 intel-xeon-6980p intel-xeon-6787p
amd-epyc-9965 aws-graviton4 google-tpu-v5e google-tpu-v5p google-tpu-v6e google-tpu-v7 aws-inferentia2
aws-trainium1 aws-trainium2 aws-trainium3 groq-lpu-v1 cerebras-wse3 sambanova-sn40l huawei-ascend-910c
dmatrix-corsair nvidia-groq3-lpu huawei-ascend-950pr huawei-ascend-950dt kunlunxin-p800 cambricon-mlu690""".split()
REQUIRED_MODELS = """llama-2-7b llama-2-13b llama-2-70b llama-3.1-8b llama-3.1-70b llama-3.1-405b mixtral-8x7b
deepseek-r1 gemma-7b gpt-oss-120b qwen3-235b-a22b gpt-oss-20b qwen3-32b glm-4.7 kimi-k2 minimax-m2
llama-3.3-70b llama-4-scout llama-4-maverick deepseek-v3.1 qwen3-8b qwen3-30b-a3b mistral-small-24b gemma-3-27b
glm-4.5-air""".split()

NUMBER_LINE = re.compile(r"^\s*[A-Za-z0-9_]+\s*=\s*(\{[^}]*\d[^}]*\}|[-+]?[\d_.]+(e[-+]?\d+)?)\s*(#.*)?$")
CITED = re.compile(r"\[(S\d+[a-z]?)\]")
LABEL = re.compile(r"derived|estimate|assumption|family default|fitted", re.IGNORECASE)


def test_every_required_chip_and_model_is_in_the_library(lib):
    assert not set(REQUIRED_CHIPS) - set(lib.ids("chip"))
    assert not set(REQUIRED_MODELS) - set(lib.ids("model"))


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_file_is_valid(path):
    assert check_file(path) == []


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_every_number_cites_a_listed_source_or_says_it_is_derived(path):
    text = path.read_text()
    listed = set(re.findall(r'\{\s*id\s*=\s*"(S\d+[a-z]?)"', text))
    for n, line in enumerate(text.splitlines(), start=1):
        m = NUMBER_LINE.match(line)
        if not m or line.strip().startswith(("schema_version", "fitted_on")):
            continue
        comment = m.group(3) or ""
        cited = set(CITED.findall(comment))
        assert cited or LABEL.search(comment), f"{path.name}:{n}: number without a source comment: {line.strip()}"
        assert cited <= listed, f"{path.name}:{n}: cites {sorted(cited - listed)} not in [provenance]"


def test_dense_rates_are_ordered_by_width(lib):
    # narrower math is never slower on the same chip (a sparse figure stored as dense would break this
    # only against its own dtype, so this catches a mix-up like fp8 dense next to bf16 sparse)
    for cid in lib.ids("chip"):
        f = lib.chip(cid).compute.dense_flops_per_s
        pairs = [(f.bf16 or f.fp16, f.fp8), (f.fp8, f.fp4)]
        for wide, narrow in pairs:
            if wide and narrow:
                assert narrow >= wide * 0.99, cid


def test_mlperf_dataset_specs_cover_every_llm_benchmark_of_v5(lib):
    """Every MLPerf Inference v5.0/v5.1 LLM benchmark has a traffic spec with its lengths and limits,
    and an MLPerf row of that model with empty lengths takes them (recorded as used)."""
    from infersim.accuracy.sources import dataset_for

    expected = {  # traffic id: (mean input, mean output, p99 TTFT s, p99 TPOT s), as the specs' sources give them
        "mlperf-llama2-70b-openorca": (222.33, 294.45, 2.0, 0.2),
        "mlperf-llama2-70b-interactive": (222.33, 294.45, 0.45, 0.04),
        "mlperf-mixtral-8x7b": (427.39, 144.84, 2.0, 0.2),
        "mlperf-llama3.1-405b": (9428.64, 684.68, 6.0, 0.175),
        "mlperf-llama3.1-405b-interactive": (9428.64, 684.68, 4.5, 0.08),
        "mlperf-llama3.1-8b-cnndm": (870.73, 81.63, 2.0, 0.1),
        "mlperf-llama3.1-8b-cnndm-interactive": (870.73, 81.63, 0.5, 0.03),
        "mlperf-deepseek-r1": (803.79, 3886.23, 2.0, 0.08),
    }
    for tid, (i, o, ttft, tpot) in expected.items():
        t = lib.traffic(tid)
        assert (t.input.mean_tokens, t.output.mean_tokens, t.ttft_target_s, t.tpot_target_s) == (i, o, ttft, tpot)
    src = "github.com/ntuhpc/mlperf_inference_results_v5.0@cf354115:closed/NVIDIA/results/x/llama3.1-405b/Offline"
    assert dataset_for(src, "llama-3.1-405b") == "mlperf-llama3.1-405b"
    assert dataset_for(src, "deepseek-r1") == "mlperf-deepseek-r1"
    assert dataset_for("my-own-bench", "llama-3.1-405b") is None
