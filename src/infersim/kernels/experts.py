"""Expert parallelism: where a token's routed experts live and what its expert exchange sends.

A pipeline stage's routed experts run over M = tp x attn_dp chips: ep ranks of E / ep experts each,
every expert split over M / ep chips (expert TP). A token lives in one attention group (tp chips,
inside one scale-up domain of D chips) and is routed to k distinct experts of E.

Dispatch sends the token's hidden state to the chips that hold its experts; combine brings their
outputs back (as many messages, in the activation dtype). Engines run two modes (DeepEP):
- low latency (decode): one message per (token, expert shard), straight to the chip, over the
  fabric that chip sits behind; no de-duplication;
- normal (prefill): one copy per destination rank; across domains one copy per destination domain
  over the NIC, forwarded inside that domain over the scale-up fabric.
Copies for the token's own attention group cost nothing: its chips hold the token already. A
destination chip is in the token's group with probability tp / M and in its domain with
probability min(D, M) / M (experts placed evenly, routing uniform).
"""

from numba import njit

from .collectives import exchange_time_nb, torus_hops_nb
from .config import JIT, JIT_LEAF
from .expert_load import busiest_rank_load_nb
from .layout import (
    A_HIDDEN, A_N_EXPERTS, A_N_MOE_LAYERS, A_TOPK, C_EFF_NET, C_OUT_BW, C_OUT_LAT_S, C_UP_BW, C_UP_DOMAIN, C_UP_LAT_S,
    C_UP_TORUS_DIMS, D_ACT_BYTES, D_DISPATCH_BYTES,
)
from .operators import split_nb

# Assumption: a normal-mode (prefill) expert dispatch first exchanges the token counts per rank (a
# notify round, CPU-blocking in DeepEP as SGLang's large-scale EP write-up describes), then the data.
NORMAL_MODE_LATENCY_ROUNDS = 2.0


@njit(**JIT)
def none_chosen_nb(n_experts, topk, held):
    """Probability that none of a token's `topk` distinct experts (drawn uniformly from `n_experts`)
    is among `held` particular experts: prod over i < k of (E - held - i) / (E - i)."""
    p = 1.0
    i = 0.0
    while i < topk:
        p *= max(n_experts - held - i, 0.0) / (n_experts - i)
        i += 1.0
    return p


@njit(**JIT)
def exchange_copies_nb(arch, dep, domain, low_latency):
    """(scale-up copies, scale-out copies) of one token's hidden state that its dispatch sends; the
    combine returns as many. (0, 0) without attention DP: then every chip of the tp group holds every
    token and the experts' outputs are summed by the group's all-reduce."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    if attn_dp <= 1.0 or arch[A_N_MOE_LAYERS] <= 0.0:
        return 0.0, 0.0
    e = arch[A_N_EXPERTS]
    k = arch[A_TOPK]
    d = min(max(domain, 1.0), moe_chips)          # expert chips in the token's domain
    own = tp / moe_chips                          # destination in the token's own group
    near = max(d - tp, 0.0) / moe_chips           # in its domain, another group
    far = (moe_chips - d) / moe_chips             # behind the NIC
    if low_latency and ep > 1.0:
        copies = k * expert_tp                    # one message per expert shard
        return copies * near, copies * far
    ranks = ep * (1.0 - none_chosen_nb(e, k, e / ep))   # distinct destination ranks
    up = ranks * expert_tp * (1.0 - own)          # each copy off the group crosses the scale-up fabric once
    out = 0.0
    if far > 0.0:
        n_dom = moe_chips / d
        held = e / ep * max(d / expert_tp, 1.0)   # experts (or shards of them) in one domain
        out = (n_dom - 1.0) * (1.0 - none_chosen_nb(e, k, held))   # other domains the token must reach
    return up, out


@njit(**JIT_LEAF)
def expert_exchange_nb(arch, chip, dep, group_tokens, is_decode):
    """(seconds, bytes per chip) of one MoE layer's dispatch and combine when each attention group
    holds `group_tokens` tokens: decode in the engines' low-latency mode, prefill in their normal
    mode (see experts.py). Dispatch goes in D_DISPATCH_BYTES per element, combine in activations."""
    tp, attn_dp, ep, moe_chips, expert_tp = split_nb(dep)
    domain = chip[C_UP_DOMAIN]
    up_copies, out_copies = exchange_copies_nb(arch, dep, domain, is_decode)
    if up_copies + out_copies <= 0.0:
        return 0.0, 0.0
    # elements of this chip's share of its group's tokens, times the busiest rank's load: the busiest
    # receiver takes (and in the combine sends back) that much more than the mean
    per_rank, load = busiest_rank_load_nb(arch, dep, group_tokens * attn_dp)
    sent = group_tokens / tp * arch[A_HIDDEN] * load
    dispatch_b = dep[D_DISPATCH_BYTES] if dep[D_DISPATCH_BYTES] > 0.0 else dep[D_ACT_BYTES]
    combine_b = dep[D_ACT_BYTES]
    up_bw = chip[C_UP_BW] / torus_hops_nb(min(moe_chips, domain), chip[C_UP_TORUS_DIMS])
    far = out_copies > 0.0
    if is_decode:
        latency = chip[C_OUT_LAT_S] if far else chip[C_UP_LAT_S]
    else:  # normal mode: a notify round, then the data; across domains NIC then scale-up forward
        latency = NORMAL_MODE_LATENCY_ROUNDS * (chip[C_UP_LAT_S] + (chip[C_OUT_LAT_S] if far else 0.0))
    eff = chip[C_EFF_NET]
    t = 0.0
    for b in (dispatch_b, combine_b):
        t += exchange_time_nb(sent * up_copies * b, sent * out_copies * b, up_bw, chip[C_OUT_BW], eff, latency)
    return t, sent * (up_copies + out_copies) * (dispatch_b + combine_b)
