"""Mixture-of-experts serving: expert parallelism against the fabric it runs over."""

from infersim.analysis.expert_scaling import ep_scaling, scaleout_crossover_bw, with_scaleout_bw
from infersim.model.configuration import Workload, resolve_precision

# DeepSeek-R1 fp8 weights and KV, 2000-token prompts, 1000 output tokens, 64 sequences per GPU
WORKLOAD = Workload(2000, 1000)
PER_GPU = 64


def _scaling(lib, chip_id, bw=None, widths=(8, 16, 32, 64)):
    chip, arch = lib.chip(chip_id), lib.architecture("deepseek-r1")
    chip = with_scaleout_bw(chip, bw) if bw else chip
    p = resolve_precision(chip, "fp8", "fp8")
    return ep_scaling(chip, arch, p, WORKLOAD, PER_GPU, widths).set_index("ep")["decode_tokens_per_s_per_chip"]


def test_wider_expert_parallelism_decodes_more_per_gpu_inside_an_nvl72_rack(lib):
    # GB200 NVL72: EP8 to EP64 all inside one NVLink domain. Each GPU reads 256 / ep experts' weights
    # per MoE layer (EP8: 32 x 44 M x 1 B = 1.4 GB, EP64: 0.18 GB), so the step shrinks as EP widens
    tok = _scaling(lib, "nvidia-gb200")
    print("\nGB200 NVL72 decode tokens/s per GPU:", tok.round(0).to_dict())
    assert tok[8] < tok[16] < tok[32] < tok[64]


def test_wider_expert_parallelism_across_nodes_pays_on_a_fast_nic_and_not_on_a_slow_one(lib):
    # H200: 8 GPUs per NVLink domain, so EP16 and wider exchange tokens over the NIC. At its 400 Gb/s
    # NIC per GPU, EP32 and EP64 beat EP8; at 100 Gb/s (12.5 GB/s) the exchange dominates and EP8 wins.
    fast = _scaling(lib, "nvidia-h200-sxm")
    slow = _scaling(lib, "nvidia-h200-sxm", bw=12.5e9)
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    cross = scaleout_crossover_bw(chip, arch, resolve_precision(chip, "fp8", "fp8"), WORKLOAD, PER_GPU, 8, 32)
    print(f"\nH200 decode tokens/s per GPU, 50 GB/s NIC: {fast.round(0).to_dict()}; 12.5 GB/s NIC: "
          f"{slow.round(0).to_dict()}; EP32 beats EP8 above {cross / 1e9:.1f} GB/s per direction")
    assert fast[8] < fast[32] < fast[64]
    assert slow[32] < slow[8] and slow[64] < slow[8]
    assert 12.5e9 < cross < 50e9   # the crossover lies between the two NICs


def test_the_exchange_grows_when_it_leaves_the_domain(lib):
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    p = resolve_precision(chip, "fp8", "fp8")
    t = ep_scaling(chip, arch, p, WORKLOAD, PER_GPU, (8, 16)).set_index("ep")
    assert not t.loc[8, "spans_domains"] and t.loc[16, "spans_domains"]
    assert t.loc[16, "exchange_share"] > t.loc[8, "exchange_share"]
