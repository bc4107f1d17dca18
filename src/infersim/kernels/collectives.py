"""Collective communication in the alpha-beta model: time = hops * latency + bytes / bandwidth.

`bw_bytes_per_s` is per direction per chip; `eff` the achieved fraction of it.
"""

import numpy as np
from numba import njit

from .config import JIT


@njit(**JIT)
def ring_allreduce_time_nb(msg_bytes, group, bw_bytes_per_s, latency_s, eff):
    """Ring all-reduce of msg_bytes over `group` chips: 2(g-1) steps, each moving msg/g."""
    if group <= 1 or msg_bytes <= 0.0:
        return 0.0
    g = float(group)
    return 2.0 * (g - 1.0) * latency_s + 2.0 * (g - 1.0) / g * msg_bytes / (bw_bytes_per_s * eff)


@njit(**JIT)
def tree_allreduce_time_nb(msg_bytes, group, bw_bytes_per_s, latency_s, eff):
    """Tree all-reduce: reduce up and broadcast down a binary tree, pipelined:
    2 ceil(log2 g) latencies, and the whole message crosses a link twice."""
    if group <= 1 or msg_bytes <= 0.0:
        return 0.0
    depth = np.ceil(np.log2(float(group)))
    return 2.0 * depth * latency_s + 2.0 * msg_bytes / (bw_bytes_per_s * eff)


@njit(**JIT)
def allreduce_time_nb(msg_bytes, group, bw_bytes_per_s, latency_s, eff):
    """The faster of ring (large messages) and tree (small, latency-bound messages), as
    collective libraries choose per message size."""
    return min(ring_allreduce_time_nb(msg_bytes, group, bw_bytes_per_s, latency_s, eff),
               tree_allreduce_time_nb(msg_bytes, group, bw_bytes_per_s, latency_s, eff))


@njit(**JIT)
def p2p_time_nb(msg_bytes, bw_bytes_per_s, latency_s, eff):
    """One point-to-point transfer (pipeline stage to stage)."""
    if msg_bytes <= 0.0:
        return latency_s
    return latency_s + msg_bytes / (bw_bytes_per_s * eff)


@njit(**JIT)
def link_for_group_nb(group, domain, up_bw, up_lat, out_bw, out_lat):
    """(bw, latency) of the fabric a group of chips talks over: scale-up inside its domain,
    the scale-out NIC when the group spans domains."""
    if group <= domain:
        return up_bw, up_lat
    return out_bw, out_lat


@njit(**JIT)
def torus_hops_nb(group, dims):
    """Mean hops between two chips of `group` chips on a torus of `dims` dimensions (side g^(1/dims),
    mean ring distance side / 4 per dimension); 1 on a switched or fully connected fabric (dims 0)."""
    if dims <= 0.0 or group <= 1.0:
        return 1.0
    side = group ** (1.0 / dims)
    return max(1.0, dims * side / 4.0)


@njit(**JIT)
def exchange_time_nb(up_bytes, out_bytes, up_bw, out_bw, eff, latency_s):
    """An expert dispatch or combine in which each chip sends `up_bytes` over the scale-up fabric and
    `out_bytes` over its NIC at once (both links driven together, so the slower sets the time), plus
    the latency of its messages' path."""
    t = up_bytes / (up_bw * eff) if up_bytes > 0.0 else 0.0
    if out_bytes > 0.0:
        t = max(t, out_bytes / (out_bw * eff))
    return t + latency_s
