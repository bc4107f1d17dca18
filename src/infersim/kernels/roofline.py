"""Roofline time of one operator on one chip."""

from numba import njit

from .config import JIT
from .layout import BOUND_COMPUTE, BOUND_MEMORY


@njit(**JIT)
def roofline_time_nb(flops, n_bytes, peak_flops_per_s, bw_bytes_per_s, eff_compute, eff_memory, overlap_loss):
    """(time_s, bound): max(tc, tm) + overlap_loss x min(tc, tm), with tc = flops / (peak * eff_c)
    and tm = bytes / (bw * eff_m). overlap_loss 0 is the pure roofline (the shorter term hidden
    under the longer); 1 serialises them.

    bound is BOUND_COMPUTE when the compute term is the larger (ties go to compute)."""
    t_compute = flops / (peak_flops_per_s * eff_compute)
    t_memory = n_bytes / (bw_bytes_per_s * eff_memory)
    if t_compute >= t_memory:
        return t_compute + overlap_loss * t_memory, BOUND_COMPUTE
    return t_memory + overlap_loss * t_compute, BOUND_MEMORY
