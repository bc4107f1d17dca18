"""The closed-loop MoE bias: DeepSeek-R1 fp8 on 8 x H200 (tp8), 1,024-token prompts, 8,192-token
outputs, 64 requests always in flight, TPOT with whole prompts (as engines take them) and with the
prompt tokens spread over every iteration (the old model), with the arithmetic.

    python benchmarks/moe_closed_loop.py

A kept-full engine replaces each finished request at once. With 64 sequences of 8,192 output tokens,
64 / 8,192 = 0.0078 requests finish per iteration, bringing 0.0078 x 1,024 = 8 prompt tokens per
iteration on average. Spread: every iteration carries those 8 prompt tokens, and with them the
routed experts 8 more tokens touch (DeepSeek-R1: top-8 of 256 experts, so 64 decode tokens touch
256 (1 - (1 - 8/256)^64) = 221 experts and 72 tokens 229). Whole: a Poisson count (mean 0.0078) of
whole 1,024-token prompts per iteration: e^-0.0078 = 99.2 % of the iterations only decode; one in
~128 carries a whole prompt, which touches every expert anyway.
"""

from __future__ import annotations

import sys

from infersim.model.configuration import Mapping, resolve_precision
from infersim.model.serving import ServingModel, closed_loop
from infersim.specs.library import Library
from infersim.specs.traffic import LengthDistribution

PROMPT, OUTPUT, CONCURRENCY = 1024, 8192, 64


def main() -> int:
    lib = Library(use_env=False)
    chip, arch = lib.chip("nvidia-h200-sxm"), lib.architecture("deepseek-r1")
    p = resolve_precision(chip, "fp8", "fp8")
    models = {arrivals: ServingModel(chip, arch, p, Mapping(tp=8), LengthDistribution(mean_tokens=PROMPT),
                                     LengthDistribution(mean_tokens=OUTPUT), prompt_arrivals=arrivals)
              for arrivals in ("spread", "whole")}
    m = models["whole"]
    lam = CONCURRENCY / OUTPUT
    t0, t1 = m.iteration_s(CONCURRENCY, 0.0), m.iteration_s(CONCURRENCY, PROMPT)
    t_spread = models["spread"].iteration_s(CONCURRENCY, lam * PROMPT)
    print(f"DeepSeek-R1 fp8 on 8 x H200, tp8, {PROMPT:,}/{OUTPUT:,} tokens, {CONCURRENCY} in flight")
    print(f"  prompts arriving per iteration        lambda = {CONCURRENCY} / {OUTPUT:,} = {lam:.5f}")
    print(f"  decode-only iteration                 T(64, 0)     = {1e3 * t0:.2f} ms")
    print(f"  iteration with one whole prompt       T(64, 1024)  = {1e3 * t1:.2f} ms")
    print(f"  spread: every iteration               T(64, {lam * PROMPT:.0f})    = {1e3 * t_spread:.2f} ms")
    approx = t0 + lam * (t1 - t0)
    print(f"  whole: T0 + lambda (T1 - T0)          = {1e3 * t0:.2f} + {lam:.5f} x {1e3 * (t1 - t0):.1f}"
          f" = {1e3 * approx:.2f} ms (to first order; the model sums the Poisson terms: "
          f"{1e3 * m.mean_iteration_s(CONCURRENCY, lam * PROMPT):.2f} ms)")
    print("closed loop (mean TTFT and TPOT of a request, the serving model's fixed point):")
    for arrivals, model in models.items():
        r = closed_loop(model, CONCURRENCY)
        print(f"  {arrivals:<6} TPOT {1e3 * r.tpot_mean_s:6.2f} ms   TTFT {1e3 * r.ttft_mean_s:7.1f} ms   "
              f"{r.output_tokens_per_s:8,.0f} output tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
