"""Roofline time of one operator on one chip."""

from numba import njit

from .config import JIT
from .layout import BOUND_COMPUTE, BOUND_MEMORY


@njit(**JIT)
def overlap_time_nb(t_compute, t_memory, overlap_loss):
    """Seconds of an operator whose compute and memory take t_compute and t_memory when each runs
    alone: max(tc, tm) + overlap_loss x min(tc, tm). overlap_loss 0 is the pure roofline (the
    shorter term hidden under the longer); 1 serialises them. (A smooth roofline,
    (tc^p + tm^p)^(1/p) with p = 1 / loss, whose loss fades away from the ridge, fitted the
    calibration rows worse: TPOT median 11.8 % against 9.6 %, MLPerf v4.1 held out 10.6 % against 9.7 %.)"""
    return max(t_compute, t_memory) + overlap_loss * min(t_compute, t_memory)


@njit(**JIT)
def roofline_time_nb(flops, n_bytes, peak_flops_per_s, bw_bytes_per_s, eff_compute, eff_memory, overlap_loss):
    """(time_s, bound): overlap_time_nb of tc = flops / (peak * eff_c) and tm = bytes / (bw * eff_m).

    bound is BOUND_COMPUTE when the compute term is the larger (ties go to compute)."""
    t_compute = flops / (peak_flops_per_s * eff_compute)
    t_memory = n_bytes / (bw_bytes_per_s * eff_memory)
    bound = BOUND_COMPUTE if t_compute >= t_memory else BOUND_MEMORY
    return overlap_time_nb(t_compute, t_memory, overlap_loss), bound
