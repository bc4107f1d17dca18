"""Expert load: how many token-expert pairs the busiest expert-parallel rank gets, which sets the
MoE layer's time (every rank waits for it).

Routing draws k of E experts per token; expert i's popularity follows a Zipf law of exponent s
(D_ROUTING_SKEW; 0 = uniform). A rank holds ceil(slots / ep) expert slots, slots = E plus the
redundant slots (EPLB, D_REDUNDANT_EXPERTS) that hold copies of the hottest experts and share their
load. The busiest rank's expected share of the pairs:
- uniform routing: 1 / ep;
- skewed, no redundancy: the rank holding the hottest expert, p_1 + (slots per rank - 1) x the mean of
  the others (placement is independent of popularity);
- skewed, with redundancy: EPLB gives the hottest experts copies until no slot carries more than a
  level L (sum of max(1, ceil(p_i / L)) = slots), then packs slots evenly: max(1 / ep, L).
On top, the step's pairs fall on ranks at random: a rank's count has sd sqrt(N share (1 - share)) for
N pairs, and the busiest of ep ranks sits E[max of ep standard normals] sd above its mean (Blom's
approximation, Phi^-1((n - 0.375) / (n + 0.25))). Larger batches (and MTP) shrink this relative
spread; wider EP grows it, as SGLang's large-scale EP write-up shows with simulated routing.
"""

import math

from numba import njit

from .config import JIT
from .layout import A_N_EXPERTS, A_TOPK, D_EP, D_REDUNDANT_EXPERTS, D_ROUTING_SKEW

# Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9 before refinement)
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
      -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
      -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
      4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
_P_LOW = 0.02425


@njit(**JIT)
def _acklam_nb(p):
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        return ((((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5])
                / ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1.0))
    if p > 1.0 - _P_LOW:
        return -_acklam_nb(1.0 - p)
    q = p - 0.5
    r = q * q
    return ((((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
            / (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0))


@njit(**JIT)
def normal_quantile_nb(p):
    """Standard normal quantile Phi^-1(p) for 0 < p < 1: Acklam's approximation refined by one
    Halley step on the normal CDF (erfc), to double precision."""
    x = _acklam_nb(p)
    e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


@njit(**JIT)
def expected_max_normal_nb(n):
    """E[max of n independent standard normals] (Blom): 0 for n <= 1."""
    if n <= 1.0:
        return 0.0
    return normal_quantile_nb((n - 0.375) / (n + 0.25))


@njit(**JIT)
def expert_slots_nb(arch, dep):
    """(slots per MoE layer, slots on the busiest rank): E plus the redundant copies; ceil(slots / ep)."""
    slots = arch[A_N_EXPERTS] + max(dep[D_REDUNDANT_EXPERTS], 0.0)
    ep = max(dep[D_EP], 1.0)
    return slots, math.ceil(slots / ep - 1e-9)


@njit(**JIT)
def zipf_weight_nb(i, skew):
    return (i + 1.0) ** (-skew)


@njit(**JIT)
def busiest_share_nb(n_experts, slots, per_rank, ep, skew):
    """Expected share of all token-expert pairs that the busiest rank's slots draw (before the
    random spread of one step), as the module says."""
    if skew <= 0.0 or n_experts <= 1.0:
        return 1.0 / ep
    norm = 0.0
    for i in range(int(n_experts)):
        norm += zipf_weight_nb(i, skew)
    hottest = 1.0 / norm
    if slots <= n_experts:
        return max(hottest + (per_rank - 1.0) * (1.0 - hottest) / (n_experts - 1.0), 1.0 / ep)
    # EPLB: the level L at which copies of the hot experts fill the slots
    lo, hi = 0.0, hottest
    for _ in range(60):
        level = 0.5 * (lo + hi)
        need = 0.0
        for i in range(int(n_experts)):
            need += max(1.0, math.ceil(zipf_weight_nb(i, skew) / norm / level - 1e-12))
        if need > slots:
            lo = level
        else:
            hi = level
    return max(hi, 1.0 / ep)


@njit(**JIT)
def busiest_rank_load_nb(arch, dep, tokens):
    """(slots on the busiest rank, load factor): the busiest rank's token-expert pairs over the mean
    rank's, for `tokens` tokens routed in one step. 1 without expert parallelism."""
    ep = max(dep[D_EP], 1.0)
    slots, per_rank = expert_slots_nb(arch, dep)
    pairs = tokens * arch[A_TOPK]
    if ep <= 1.0 or pairs <= 0.0:
        return per_rank, 1.0
    share = busiest_share_nb(arch[A_N_EXPERTS], slots, per_rank, ep, dep[D_ROUTING_SKEW])
    busiest = pairs * share + math.sqrt(pairs * share * (1.0 - share)) * expected_max_normal_nb(ep)
    return per_rank, busiest / (pairs / ep)
