"""The NumPy version of the sweep this benchmark used until the factorised reference replaced it: it
gathers a parameter row per point and recomputes capacity, prefill and $/chip-hour at every point.
Kept to show the difference in the benchmark table (test_old_reference_throughput), and its
vectorised chip_hour checks the cost kernel's table.

Same formulas as infersim.kernels (operators, roofline, collectives, capacity, prefill, decode,
cost); EP = 1. Not used by infersim itself.
"""

from __future__ import annotations

import numpy as np

from infersim.kernels import layout as L

NORM_PASSES, NORM_FLOPS = 8.0, 12.0


def _link(group, chips):
    inside = group <= chips[:, L.C_UP_DOMAIN]
    return (np.where(inside, chips[:, L.C_UP_BW], chips[:, L.C_OUT_BW]),
            np.where(inside, chips[:, L.C_UP_LAT_S], chips[:, L.C_OUT_LAT_S]))


def _ctx_sum(past, new, window):
    full = new * past + new * (new + 1) / 2
    k = np.minimum(new, np.maximum(window - past, 0))
    win = np.where(past >= window, new * window, k * past + k * (k + 1) / 2 + (new - k) * window)
    return np.where(window <= 0, full, win)


def step_time(a, c, n_seqs, new, past, decode, wb, kvb, ab, tp, pp):
    """Seconds of one step through all stages (vectorised; a, c: per-point rows)."""
    d = a[:, L.A_HIDDEN]
    n = n_seqs * new
    layers = a[:, L.A_N_LAYERS]
    shard = np.minimum(tp, a[:, L.A_KV_SHARD_MAX])
    eff_c = c[:, L.C_EFF_DECODE] if decode else c[:, L.C_EFF_PREFILL]
    peak, bw, eff_m, loss = c[:, L.C_PEAK_FLOPS], c[:, L.C_MEM_BW], c[:, L.C_EFF_MEM], c[:, L.C_OVERLAP_LOSS]

    def roof(count, flops, nbytes):
        tc, tm = flops / (peak * eff_c), nbytes / (bw * eff_m)
        return count * (np.maximum(tc, tm) + loss * np.minimum(tc, tm))

    t = roof(1.0, 0.0, n * d * wb / tp + n * d * ab)
    qkv = a[:, L.A_QKV_PARAMS]
    t += roof(layers, 2 * n * qkv / tp, qkv * wb / tp + n * d * ab + n * a[:, L.A_QKV_OUT] / tp * ab)
    dim = a[:, L.A_ATT_DIM_DECODE] if decode else a[:, L.A_ATT_DIM_PREFILL]
    kv_tok = a[:, L.A_KV_ELEMS] * kvb / shard
    io = n * (a[:, L.A_QKV_OUT] + a[:, L.A_O_IN]) / tp * ab
    nwin = a[:, L.A_N_WINDOW_LAYERS]
    for lay, win in ((layers - nwin, np.zeros_like(layers)), (nwin, a[:, L.A_WINDOW])):
        cached = np.where(win <= 0, past, np.minimum(past, win))
        term = roof(lay, 2 * dim * n_seqs * _ctx_sum(past, new, win) / tp,
                    n_seqs * (cached + new) * kv_tok + n * kv_tok + io)
        t += np.where(lay > 0, term, 0.0)
    o = a[:, L.A_O_PARAMS]
    t += roof(layers, 2 * n * o / tp, o * wb / tp + n * (a[:, L.A_O_IN] / tp + d) * ab)
    mlp = a[:, L.A_DENSE_MLP_PARAMS]
    t += np.where(a[:, L.A_N_DENSE_LAYERS] > 0, roof(a[:, L.A_N_DENSE_LAYERS], 2 * n * mlp / tp,
                  mlp * wb / tp + n * (2 * d + 3 * a[:, L.A_DENSE_FFN] / tp) * ab), 0.0)
    moe, e, k, pe = a[:, L.A_N_MOE_LAYERS], a[:, L.A_N_EXPERTS], a[:, L.A_TOPK], a[:, L.A_EXPERT_PARAMS]
    with np.errstate(divide="ignore", invalid="ignore"):
        touched = np.where(e > 0, e * (1 - (1 - k / np.where(e > 0, e, 1)) ** n), 0.0)
    act = (2 * d + 3 * a[:, L.A_EXPERT_FFN]) / tp * ab
    t += np.where(moe > 0, roof(moe, 2 * n * d * e, d * e * wb + n * d * ab)
                  + roof(moe, 2 * n * k * pe / tp, touched * pe * wb / tp + n * k * act), 0.0)
    s = a[:, L.A_N_SHARED]
    t += np.where((moe > 0) & (s > 0), roof(moe, 2 * n * s * pe / tp, s * pe * wb / tp + n * s * act), 0.0)
    t += roof(layers, NORM_FLOPS * n * d, NORM_PASSES * n * d * ab)
    v = a[:, L.A_VOCAB]
    t += roof(1.0, 2 * n_seqs * d * v / tp, d * v * wb / tp + n_seqs * d * ab + n_seqs * v / tp * 4.0)
    # collectives
    msg = n * d * ab
    eff_n = c[:, L.C_EFF_NET]
    bw_tp, lat_tp = _link(tp, c)
    g = tp
    ring = 2 * (g - 1) * lat_tp + 2 * (g - 1) / g * msg / (bw_tp * eff_n)
    tree = 2 * np.ceil(np.log2(np.maximum(g, 1))) * lat_tp + 2 * msg / (bw_tp * eff_n)
    n_ar = layers + a[:, L.A_N_DENSE_LAYERS] + moe
    t += np.where(tp > 1, n_ar * np.minimum(ring, tree), 0.0)
    bw_pp, lat_pp = _link(tp * pp, c)
    t += np.where(pp > 1, (pp - 1) * (lat_pp + msg / tp / (bw_pp * eff_n)), 0.0)
    hops = np.where(pp > 1, (pp - 1) * (lat_pp + msg / tp / (bw_pp * eff_n)), 0.0)
    return t, hops


def crf(rate, years):
    g = (1 + rate) ** years
    return np.where(rate > 0, rate * g / (g - 1), 1 / years)


def chip_hour(p, b):
    bom = p[:, L.P_BOM] == 1
    hbm_price = b[np.arange(len(b))[:, None], (L.B_HBM2 + p[:, L.P_HBM_GEN].astype(int))[:, None]][:, 0]
    price = np.where(bom, (p[:, L.P_PARTS_USD] + p[:, L.P_HBM_GB] * hbm_price) / (1 - p[:, L.P_MARGIN]),
                     p[:, L.P_MARKET_USD])
    # scale-out fat tree: tiers t, 2t - 1 switch ports per chip, modules per port nic / module
    nic = p[:, L.P_NIC_GBPS]
    has = nic > 0
    k = np.maximum(b[:, L.B_SWITCH_GBPS] / np.where(has, nic, 1.0), 4.0)
    n = b[:, L.B_CLUSTER_CHIPS]
    tiers = np.where(n <= k, 1, 2)
    for t in range(2, 8):
        tiers = np.where((tiers == t) & (2 * (k / 2) ** t < n), t + 1, tiers)
    ports = 2.0 * tiers - 1
    f = b[:, L.B_NIC_LEAF_OPTICAL]
    r = nic / b[:, L.B_MODULE_GBPS]
    equiv = np.where(has, f * r + (ports - (1 - f)) * r, 0.0)
    switches = np.where(has, ports / k, 0.0)
    net_usd = switches * b[:, L.B_SWITCH_USD] + equiv * b[:, L.B_MODULE_USD]
    fabric_w = switches * b[:, L.B_SWITCH_W] + equiv * b[:, L.B_MODULE_W] + \
        p[:, L.P_SCALEUP_MODULES] * p[:, L.P_SCALEUP_MODULE_W]
    scaleup = p[:, L.P_SCALEUP_USD] + p[:, L.P_SCALEUP_MODULES] * p[:, L.P_SCALEUP_MODULE_USD]
    system_w = p[:, L.P_TDP_W] * (1 + p[:, L.P_POWER_OVERHEAD])
    peak_w = system_w + fabric_w
    avg_w = system_w * b[:, L.B_AVG_POWER] + fabric_w
    h = L.HOURS_PER_YEAR
    it = (price + p[:, L.P_SERVER_USD] + scaleup + net_usd) * crf(b[:, L.B_RATE], b[:, L.B_CHIP_LIFE_Y]) / h
    fac = b[:, L.B_FACILITY_USD_PER_W] * peak_w * crf(b[:, L.B_RATE], b[:, L.B_FACILITY_LIFE_Y]) / h
    power = avg_w * b[:, L.B_PUE] / 1000 * b[:, L.B_USD_PER_KWH]
    owner = (it + fac) * (1 + b[:, L.B_UPKEEP]) + power
    return np.where(p[:, L.P_RENT_USD_H] > 0, p[:, L.P_RENT_USD_H], owner)


def sweep_numpy(g, rows: np.ndarray) -> np.ndarray:
    """usd_per_mtok for the flat sweep rows `rows` (NaN where the point does not fit)."""
    nb = g.batches.shape[0]
    dims = (g.chips.shape[0], g.archs.shape[0], g.budgets.shape[0], g.tps.shape[0], g.pps.shape[0],
            g.inputs.shape[0], g.outputs.shape[0])
    c_i, m_i, b_i, t_i, p_i, i_i, o_i = np.unravel_index(rows // nb, dims)
    a, c, p, b = g.archs[m_i], g.chips[c_i], g.costs[c_i], g.budgets[b_i]
    tp, pp, inp, outp = g.tps[t_i], g.pps[p_i], g.inputs[i_i], g.outputs[o_i]
    batch = g.batches[rows % nb]
    wb, kvb, ab = g.w_bytes, g.kv_bytes, 2.0
    # capacity
    usable = c[:, L.C_MEM_BYTES] * c[:, L.C_USABLE_FRAC]
    weights = a[:, L.A_TOTAL_PARAMS] * wb / (tp * pp)
    shard = np.minimum(tp, a[:, L.A_KV_SHARD_MAX])
    ctx = inp + outp
    nwin = a[:, L.A_N_WINDOW_LAYERS]
    kv_seq = ((a[:, L.A_N_LAYERS] - nwin) * ctx + nwin * np.minimum(ctx, a[:, L.A_WINDOW])) * a[:, L.A_KV_ELEMS] * kvb
    kv_seq = kv_seq / (pp * shard)
    ffn = np.maximum(a[:, L.A_DENSE_FFN], a[:, L.A_TOPK] * a[:, L.A_EXPERT_FFN])
    per_tok = (4 * a[:, L.A_HIDDEN] + 3 * ffn / tp) * ab
    chunk = np.maximum(1.0, np.minimum(np.minimum(8192.0, inp), np.floor(0.10 * usable / per_tok)))
    per_seq = kv_seq + per_tok + a[:, L.A_VOCAB] / tp * 4.0
    free = usable - weights - chunk * per_tok
    max_batch = np.where(free > 0, np.floor(free / per_seq), 0.0)
    fits = (max_batch >= 1) & (batch <= max_batch)
    t_pf, hops = step_time(a, c, np.ones_like(inp), inp, np.zeros_like(inp), False, wb, kvb, ab, tp, pp)
    busy = (t_pf - hops) / pp + c[:, L.C_PREFILL_OVERHEAD_S]
    micro = np.minimum(batch, pp)
    t_dec, _ = step_time(a, c, batch / micro, np.ones_like(inp), inp + (outp - 1) / 2, True, wb, kvb, ab, tp, pp)
    tpot = t_dec + c[:, L.C_OVERHEAD_S]
    tok_s = batch * outp / (np.maximum(outp - 1, 0) * tpot + batch * busy)
    usd = tp * pp * chip_hour(p, b) / (tok_s * 3600) * 1e6
    return np.where(fits, usd, np.nan)

