"""Properties of the step model (hypothesis): monotone in work and in resources, never faster
than the roofline allows."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from infersim.kernels import layout as L
from infersim.kernels.step import evaluate_nb, new_result_matrix, step_time_nb
from infersim.model.packing import pack_architecture, pack_chip
from infersim.specs.library import Library

LIB = Library(use_env=False)
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-r1", "gpt-oss-120b"]
ARCHS = {m: pack_architecture(LIB.architecture(m)) for m in MODELS}
CHIP = pack_chip(LIB.chip("nvidia-h100-sxm"), "bf16")

configs = st.fixed_dictionaries({
    "model": st.sampled_from(MODELS),
    "n_seqs": st.integers(1, 512).map(float),
    "new": st.integers(1, 4096).map(float),
    "past": st.integers(0, 16384).map(float),
    "wb": st.sampled_from([0.5625, 1.0, 2.0]),
    "kvb": st.sampled_from([1.0, 2.0]),
    "tp": st.sampled_from([1.0, 2.0, 4.0, 8.0]),
    "pp": st.integers(1, 4).map(float),
    "ep_is_tp": st.booleans(),
    "attn_dp": st.sampled_from([1.0, 2.0, 8.0]),
})


def _time(c, chip=CHIP, **over):
    c = {**c, **over}
    a = ARCHS[c["model"]]
    moe = a[L.A_N_MOE_LAYERS] > 0
    ep = c["tp"] * c["attn_dp"] if (moe and (c["ep_is_tp"] or c["attn_dp"] > 1)) else 1.0
    scratch = [np.zeros(L.N_OPS) for _ in range(4)]
    bounds, bt = np.zeros(L.N_OPS, dtype=np.int64), np.zeros(3)
    decode = c["new"] == 1.0
    dep = np.zeros(L.D_FIELDS)
    dep[[L.D_TP, L.D_PP, L.D_ATTN_DP, L.D_EP, L.D_W_BYTES, L.D_KV_BYTES, L.D_ACT_BYTES]] = (
        c["tp"], c["pp"], c["attn_dp"] if a[L.A_N_MOE_LAYERS] > 0 else 1.0, ep, c["wb"], c["kvb"], 2.0)
    total = step_time_nb(a, chip, dep, c["n_seqs"], c["new"], c["past"], decode, *scratch, bounds, bt)
    flops, nbytes, count = scratch[0], scratch[1], scratch[2]
    return total, flops, nbytes, count


def _scaled_chip(**factors):
    chip = CHIP.copy()
    for field, f in factors.items():
        chip[getattr(L, field)] *= f
    return chip


@settings(max_examples=150, deadline=None)
@given(configs, st.integers(1, 4096))
def test_more_tokens_never_take_less_time(c, extra):
    assert _time(c, new=c["new"] + extra)[0] >= _time(c)[0] * (1 - 1e-12)
    assert _time(c, n_seqs=c["n_seqs"] + extra)[0] >= _time(c)[0] * (1 - 1e-12)
    assert _time(c, past=c["past"] + extra)[0] >= _time(c)[0] * (1 - 1e-12)


@settings(max_examples=150, deadline=None)
@given(configs)
def test_more_bytes_never_take_less_time(c):
    assert _time(c, wb=c["wb"] * 2)[0] >= _time(c)[0] * (1 - 1e-12)
    assert _time(c, kvb=c["kvb"] * 2)[0] >= _time(c)[0] * (1 - 1e-12)


@settings(max_examples=150, deadline=None)
@given(configs, st.floats(0.1, 0.99))
def test_less_bandwidth_or_compute_never_takes_less_time(c, f):
    base = _time(c)[0]
    for field in ("C_MEM_BW", "C_PEAK_FLOPS", "C_UP_BW", "C_OUT_BW"):
        assert _time(c, chip=_scaled_chip(**{field: f}))[0] >= base * (1 - 1e-12), field


@settings(max_examples=150, deadline=None)
@given(configs)
def test_no_step_beats_the_roofline_bound(c):
    # Whatever the efficiencies, a step cannot be faster than all its FLOPs at peak, nor than all
    # its bytes at full bandwidth (per chip of one TP group, summed over the stages).
    total, flops, nbytes, count = _time(c)
    compute_ops = [i for i in range(L.N_OPS) if i not in (L.OP_TP_ALLREDUCE, L.OP_EP_ALLTOALL, L.OP_PP_SENDRECV)]
    all_flops = sum(flops[i] * count[i] for i in compute_ops)
    all_bytes = sum(nbytes[i] * count[i] for i in compute_ops)
    assert total >= all_flops / CHIP[L.C_PEAK_FLOPS] * (1 - 1e-12)
    assert total >= all_bytes / CHIP[L.C_MEM_BW] * (1 - 1e-12)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 8192), st.integers(1, 4096), st.floats(1.1, 4.0))
def test_capacity_falls_with_context_and_grows_with_memory(model, inp, outp, grow):
    cfg = np.zeros((3, L.K_FIELDS))
    cfg[:, L.K_TP] = 8
    cfg[:, L.K_PP] = 2
    cfg[:, L.K_EP] = 1
    cfg[:, L.K_ATTN_DP] = 1
    cfg[:, L.K_INPUT_LEN] = inp
    cfg[:, L.K_OUTPUT_LEN] = outp
    cfg[:, L.K_W_BYTES] = 1.0
    cfg[:, L.K_KV_BYTES] = 1.0
    cfg[:, L.K_ACT_BYTES] = 2.0
    cfg[:, L.K_REPLICAS] = 1
    cfg[1, L.K_INPUT_LEN] = inp * 2            # longer context
    cfg[2, L.K_CHIP] = 1                       # bigger memory
    chips = np.stack([CHIP, _scaled_chip(C_MEM_BYTES=grow)])
    out = new_result_matrix(3)
    evaluate_nb(ARCHS[model][None, :], chips, cfg, out)
    assert out[1, L.R_MAX_BATCH] <= out[0, L.R_MAX_BATCH]
    assert out[2, L.R_MAX_BATCH] >= out[0, L.R_MAX_BATCH]
    if out[0, L.R_FITS] == 1:
        # throughput at the largest batch is at least that of batch 1
        one = cfg[:1].copy()
        one[0, L.K_BATCH] = 1
        out1 = new_result_matrix(1)
        evaluate_nb(ARCHS[model][None, :], chips, one, out1)
        assert out[0, L.R_SYSTEM_TOK_S] >= out1[0, L.R_SYSTEM_TOK_S] * (1 - 1e-12)
