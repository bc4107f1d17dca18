"""DeepSeek's and SGLang's published large-scale DeepSeek-V3/R1 serving figures, predicted by infersim.

    python benchmarks/moe_published.py

Each published pool is predicted from the spec files alone: infersim tries every mapping its search
tries on the pool's chips (analysis.expert_scaling.decode_pool / prefill_pool) and keeps the best;
nothing here is fitted to the published figures. The lengths, batches and pool sizes are the ones
the sources state:

- DeepSeek, "DeepSeek-V3/R1 Inference System Overview" (open-infra-index, 2025-03-01), H800 nodes
  of 8: decode units of 18 nodes (EP144, 32 redundant experts), ~14.8 k output tokens/s per node
  (1,850 per GPU) at 20-22 tokens/s per user, average KV length per output token 4,989; prefill
  units of 4 nodes (EP32, 32 redundant experts), ~73.7 k input tokens/s per node including on-disk
  KV-cache hits, which were 56.3 % of input tokens. It is a 24-hour production average over a day
  of varying load. DeepSeek's profile data (deepseek-ai/profile-data, as SGLang's write-up quotes
  it) is the saturated counterpart: decode 18,598 tokens/s per node at 128 sequences per GPU and a
  4,096-token KV length, prefill 62,713 per node at 16,384 tokens per GPU of 4,096-token prompts.
- SGLang, "Deploying DeepSeek with PD Disaggregation and Large-Scale Expert Parallelism on 96 H100
  GPUs" (lmsys.org, 2025-05-05): decode on 9 nodes (EP72, EPLB's 288 slots), 256 sequences per GPU,
  2,000-token inputs: 22,282 output tokens/s per node (2,785 per GPU; "22.3 k"); prefill on 4 nodes
  (EP32), 16,384 tokens per GPU: 57,674 / 54,543 / 50,302 input tokens/s per node for 1 K / 2 K /
  4 K prompts ("52.3 k" in its summary).

Cache hits: a prompt whose prefix is found in DeepSeek's KV cache is prefilled for its new tokens
only, attending to the cached ones. infersim predicts the tokens a prefill pool computes (prompts of
4,096 tokens, DeepSeek's profile length, of which 56.3 % cached: 1,790 new after 2,306 cached) and
compares them with DeepSeek's figure without the hits, 73.7 k x (1 - 0.563) = 32.2 k per node; the
figure with hits is that divided by 0.437.
"""

from __future__ import annotations

import sys

from infersim.analysis.expert_scaling import decode_pool, prefill_pool
from infersim.model.configuration import Workload, resolve_precision
from infersim.model.speculative import resolve_speculation
from infersim.specs.library import Library

GPUS_PER_NODE = 8
REDUNDANT_EXPERTS = 32           # DeepSeek's EPLB slots, SGLang's 288 = 256 + 32
PREFILL_TOKENS_PER_GPU = 16_384  # both sources' prefill batch per device
CACHE_HIT_SHARE = 0.563          # DeepSeek: share of input tokens found in its KV cache


def decode_workload(kv_tokens: int, speculation=None) -> Workload:
    """A workload whose mean decode context (input + (output - 1) / 2) is `kv_tokens`."""
    return Workload(kv_tokens - 500, 1001, speculation=speculation)


def error(pred: float, published: float) -> str:
    return f"{100 * (pred / published - 1):+.0f} %"


def show(table, n: int = 3) -> None:
    cols = [c for c in ("mapping", "batch_per_chip", "tpot_s", "user_tokens_per_s", "decode_bound",
                        "decode_tokens_per_s_per_chip", "prefill_tokens_per_s_per_chip") if c in table.columns]
    print(table[cols].head(n).to_string(index=False, float_format=lambda v: f"{v:,.3g}" if v < 1 else f"{v:,.0f}"))


def main() -> int:
    lib = Library(use_env=False)
    arch = lib.architecture("deepseek-r1")
    h800, h100 = lib.chip("nvidia-h800"), lib.chip("nvidia-h100-sxm")
    p800, p100 = resolve_precision(h800, "fp8", "fp8"), resolve_precision(h100, "fp8", "fp8")
    mtp = resolve_speculation(lib, arch, "mtp")
    lines = []

    print("== DeepSeek decode: 144 x H800 (18 nodes), KV length 4,989, TPOT <= 50 ms (20 tokens/s per user)")
    for label, spec in (("no MTP", None), (f"MTP ({mtp.label})", mtp)):
        t = decode_pool(h800, arch, p800, decode_workload(4989, spec), 144, max_tpot_s=0.050,
                        redundant_experts=REDUNDANT_EXPERTS)
        print(f"-- {label}: best of {len(t)} mappings")
        show(t)
        best = t.iloc[0]
        lines.append(("DeepSeek decode, tokens/s per GPU at 20 tok/s/user", label, best["mapping"],
                      best["decode_tokens_per_s_per_chip"], 1850.0))
    # at DeepSeek's average occupancy (Little's law: 1,850 tokens/s per GPU / 21 tokens/s per user)
    occupancy = round(1850 / 21)
    t = decode_pool(h800, arch, p800, decode_workload(4989), 144, batch_per_chip=occupancy,
                    redundant_experts=REDUNDANT_EXPERTS)
    print(f"-- at DeepSeek's mean occupancy, 1,850 / 21 = {occupancy} sequences per GPU")
    show(t, 1)
    lines.append(("DeepSeek decode, tokens/s per user at its occupancy", "no MTP", t.iloc[0]["mapping"],
                  t.iloc[0]["user_tokens_per_s"], 21.0))
    t = decode_pool(h800, arch, p800, decode_workload(4096), 128, batch_per_chip=128,
                    redundant_experts=REDUNDANT_EXPERTS)
    print("-- DeepSeek's profile setting: 128 x H800 (16 nodes), 128 sequences per GPU, KV length 4,096")
    show(t, 1)
    lines.append(("DeepSeek profile decode, tokens/s per GPU", "no MTP", t.iloc[0]["mapping"],
                  t.iloc[0]["decode_tokens_per_s_per_chip"], 18598 / GPUS_PER_NODE))

    new = round(4096 * (1 - CACHE_HIT_SHARE))
    print(f"\n== DeepSeek prefill: 32 x H800 (4 nodes), {PREFILL_TOKENS_PER_GPU:,} tokens per GPU, 4,096-token "
          f"prompts of which 56.3 % cached ({new:,} new after {4096 - new:,} cached)")
    t = prefill_pool(h800, arch, p800, 32, new, 4096 - new, PREFILL_TOKENS_PER_GPU, REDUNDANT_EXPERTS)
    show(t)
    node = t.iloc[0]["prefill_tokens_per_s_per_chip"] * GPUS_PER_NODE
    lines.append(("DeepSeek prefill, computed tokens/s per node", "", t.iloc[0]["mapping"], node,
                  73_700 * (1 - CACHE_HIT_SHARE)))
    lines.append(("DeepSeek prefill, input tokens/s per node incl. cache hits", "", t.iloc[0]["mapping"],
                  node / (1 - CACHE_HIT_SHARE), 73_700.0))
    t = prefill_pool(h800, arch, p800, 32, 4096, 0, PREFILL_TOKENS_PER_GPU, REDUNDANT_EXPERTS)
    lines.append(("DeepSeek profile prefill, 4,096-token prompts, per node", "", t.iloc[0]["mapping"],
                  t.iloc[0]["prefill_tokens_per_s_per_chip"] * GPUS_PER_NODE, 62_713.0))

    print("\n== SGLang decode: 72 x H100 (9 nodes), 256 sequences per GPU, KV length 2,000")
    for label, spec in (("no MTP", None), (f"MTP ({mtp.label})", mtp)):
        t = decode_pool(h100, arch, p100, decode_workload(2000, spec), 72, batch_per_chip=256,
                        redundant_experts=REDUNDANT_EXPERTS)
        print(f"-- {label}: best of {len(t)} mappings")
        show(t)
        if spec is None:
            lines.append(("SGLang decode, tokens/s per GPU", label, t.iloc[0]["mapping"],
                          t.iloc[0]["decode_tokens_per_s_per_chip"], 22_282 / GPUS_PER_NODE))

    print(f"\n== SGLang prefill: 32 x H100 (4 nodes), {PREFILL_TOKENS_PER_GPU:,} tokens per GPU")
    for prompt, published in ((1000, 57_674.0), (2000, 54_543.0), (4000, 50_302.0)):
        t = prefill_pool(h100, arch, p100, 32, prompt, 0, PREFILL_TOKENS_PER_GPU, REDUNDANT_EXPERTS)
        if prompt == 2000:
            print(f"-- {prompt:,}-token prompts")
            show(t)
            lines.append(("SGLang prefill, 2,000-token prompts, per node (summary figure 52.3 k)", "",
                          t.iloc[0]["mapping"], t.iloc[0]["prefill_tokens_per_s_per_chip"] * GPUS_PER_NODE, 52_300.0))
        lines.append((f"SGLang prefill, {prompt:,}-token prompts, per node", "", t.iloc[0]["mapping"],
                      t.iloc[0]["prefill_tokens_per_s_per_chip"] * GPUS_PER_NODE, published))

    print("\n== summary: infersim against the published figure")
    width = max(len(what) for what, *_ in lines)
    for what, variant, mapping, pred, published in lines:
        print(f"{what:<{width}}  {variant:<22} {mapping:<20} {pred:>10,.0f} {published:>10,.0f}  {error(pred, published)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
