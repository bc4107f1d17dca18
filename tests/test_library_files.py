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
