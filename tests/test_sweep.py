"""Sweeps: the factorised kernel against the plain-Python twins and the single-configuration path on
random grids, the streamed reductions against brute force, and results that do not depend on how
the sweep is split."""

import numpy as np
import pandas as pd
import pytest

from infersim.kernels import grid_sweep as K
from infersim.kernels import layout as L
from infersim.kernels.reduce import pareto_candidates_nb, topk_update_nb
from infersim.kernels.step import evaluate_rows_nb, new_result_matrix
from infersim.model.configuration import Mapping, Precision, Workload, config_row
from infersim.design_space.chunk import HIST_USD_EDGES, Reducer, point_values
from infersim.design_space.grid import build_grid
from infersim.design_space.run import run_sweep
from tests import naive


@pytest.fixture(scope="module")
def spec(lib):
    return lib.sweep("hbm-bandwidth-what-if").model_copy(update={
        "chips": ["nvidia-h100-sxm", "google-tpu-v6e"], "tp": [1, 4], "pp": [1, 2], "batch": [1, 16, 256],
        "input_len": [256, 2048], "output_len": [128, 1024]})


def random_spec(lib, seed):
    """A random small grid: chips, models (dense, MoE, windowed, MLA), every kind of multiplier, targets."""
    rng = np.random.default_rng(seed)
    pick = lambda xs, n: sorted(rng.choice(xs, size=n, replace=False).tolist())  # noqa: E731
    chips = ["nvidia-h100-sxm", "nvidia-b200", "amd-mi300x", "google-tpu-v6e", "aws-trainium2", "groq-lpu-v1",
             "intel-xeon-6980p", "nvidia-l40s"]
    models = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "gemma-7b", "deepseek-r1", "gpt-oss-120b"]
    scale = {k: pick([0.5, 1.0, 1.5, 2.0], int(rng.integers(1, 3))) for k in
             ("flops", "memory_bandwidth", "memory_capacity", "power", "price")}
    reduce = {"top_k": int(rng.integers(1, 4)), "pareto": True, "histogram_bins": 60,
              "max_tpot_ms": float(rng.choice([50.0, 200.0])), "max_ttft_ms": float(rng.choice([500.0, 5000.0]))}
    base = lib.sweep("hbm-bandwidth-what-if")
    return type(base).model_validate({**base.model_dump(), **{
        "id": f"random-{seed}", "chips": pick(chips, 2), "models": pick(models, 2), "tp": pick([1, 2, 4, 8], 2),
        "pp": pick([1, 2, 3], 2), "batch": pick([1, 3, 16, 64, 300, 1024], 3),
        "input_len": pick([100, 256, 1000, 2048, 9000], 3), "output_len": pick([1, 2, 64, 500, 2048], 2),
        "scale": scale, "budget_scale": {"electricity": pick([1.0, 2.0], 2), "hbm_price": [1.0, 1.3]},
        "reduce": reduce, "allow_long_context": True}})  # arithmetic, not realism: gemma-7b at 9,000 tokens too


def _all_rows(g):
    return point_values(g, np.arange(g.n_points))


def _indices(g, row):
    dims = (g.chips.shape[0], g.archs.shape[0], g.budgets.shape[0], g.tps.shape[0], g.pps.shape[0],
            g.inputs.shape[0], g.outputs.shape[0])
    return (*np.unravel_index(row // g.batches.shape[0], dims), row % g.batches.shape[0])


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_sweep_kernel_matches_the_twins_and_the_single_configuration_path(lib, spec, seed):
    g = build_grid(lib, spec if seed is None else random_spec(lib, seed))
    rows = np.random.default_rng(seed or 3).integers(0, g.n_points, 150)
    out = point_values(g, rows)
    n_fit = 0
    precision = Precision("fp8", "fp8", "fp8", False)
    for row, val in zip(rows, out):
        c, m, b, t, p, i, o, k = _indices(g, row)
        batch, tp, pp = g.batches[k], g.tps[t], g.pps[p]
        twin = naive.evaluate(g.archs[m], g.chips[c], tp, pp, 1.0, batch, g.inputs[i], g.outputs[o],
                              g.w_bytes, g.kv_bytes, 2.0, 1, 8192.0)
        assert (val[K.S_FITS] == 1.0) == twin["fits"]
        # the single-configuration path (same kernels, one row) gives the same numbers bit for bit
        cfg = config_row(0, 0, precision, Mapping(tp=int(tp), pp=int(pp)),
                         Workload(int(g.inputs[i]), int(g.outputs[o])), int(batch))
        cfg[L.K_W_BYTES], cfg[L.K_KV_BYTES] = g.w_bytes, g.kv_bytes
        one = new_result_matrix(1)
        evaluate_rows_nb(g.archs[m][None, :], g.chips[c][None, :], cfg[None, :], one)
        assert (one[0, L.R_FITS] == 1.0) == twin["fits"]
        if not twin["fits"]:
            continue
        n_fit += 1
        usd_h = naive.chip_hour_cost(g.costs[c], g.budgets[b])["total"]
        chips = tp * pp
        assert val[K.S_TTFT_S] == pytest.approx(twin["ttft_s"], rel=1e-12)
        assert val[K.S_TPOT_S] == pytest.approx(twin["tpot_s"], rel=1e-12)
        assert val[K.S_TOK_S_PER_CHIP] == pytest.approx(twin["system_tok_s"] / chips, rel=1e-12)
        assert val[K.S_USD_PER_MTOK] == pytest.approx(chips * usd_h / (twin["system_tok_s"] * 3600) * 1e6, rel=1e-12)
        assert (val[K.S_TTFT_S], val[K.S_TPOT_S]) == (one[0, L.R_TTFT_S], one[0, L.R_TPOT_S])
        assert val[K.S_TOK_S_PER_CHIP] == one[0, L.R_SYSTEM_TOK_S] / chips
        assert val[K.S_DECODE_BOUND] == one[0, L.R_DECODE_BOUND]
    assert n_fit > (30 if seed is None else 5)


def _brute_force(g, spec, out):
    r = spec.reduce
    ok = out[:, K.S_FITS] == 1.0
    if r.max_tpot_ms:
        ok &= out[:, K.S_TPOT_S] <= r.max_tpot_ms / 1e3
    if r.max_ttft_ms:
        ok &= out[:, K.S_TTFT_S] <= r.max_ttft_ms / 1e3
    df = pd.DataFrame({"row": np.arange(g.n_points), "usd": out[:, K.S_USD_PER_MTOK],
                       "speed": out[:, K.S_USER_TOK_S]})[ok]
    df["variant"] = (df["row"] // g.batches.shape[0]) // (g.n_outer // g.chips.shape[0])
    top = df.sort_values(["usd", "row"]).groupby("variant").head(r.top_k)
    # the Pareto front by its definition: no point as fast and cheaper, or faster and as cheap
    # (of points equal in both, the lowest row: rented chips cost the same under every budget)
    front = [x.row for x in df.itertuples() if not ((df["speed"] >= x.speed) & (df["usd"] < x.usd)).any()
             and not ((df["speed"] > x.speed) & (df["usd"] <= x.usd)).any()
             and not ((df["speed"] == x.speed) & (df["usd"] == x.usd) & (df["row"] < x.row)).any()]
    hist = np.bincount(np.clip(np.searchsorted(HIST_USD_EDGES, df["usd"], side="right") - 1, 0,
                               len(HIST_USD_EDGES) - 2), minlength=len(HIST_USD_EDGES) - 1)
    return ok, top, df.set_index("row").loc[front], hist


@pytest.mark.parametrize("seed", [None, 4, 5])
def test_reductions_match_brute_force_and_ignore_chunking(lib, spec, seed):
    spec = spec if seed is None else random_spec(lib, seed)
    g = build_grid(lib, spec)
    ok, top, front, hist = _brute_force(g, spec, _all_rows(g))
    per_block = g.n_points // g.n_blocks
    results = [run_sweep(lib, spec, chunk_points=c, progress=False) for c in (per_block, 3 * per_block, 10**9)]
    for res in results:
        t = res.table
        assert res.n_feasible == int(ok.sum())
        kept = t[t["kept_as"] == "top_k"]
        assert np.array_equal(np.sort(kept["usd_per_mtok"]), np.sort(top["usd"]))
        assert sorted(t[t["kept_as"] == "pareto"]["usd_per_mtok"]) == sorted(front["usd"])
        assert np.array_equal(res.histogram["count"].to_numpy(), hist)
    # a small candidate buffer: dominated candidates are dropped as it fills, the front is the same.
    # A thread's own front (of the points it saw) can be larger than the global one (random-5: 12
    # against 5), so the buffer has room for a few times the global front
    red = Reducer(g, spec, pareto_capacity=max(16, 4 * len(front)))
    red.run(0, g.n_blocks)
    assert sorted(red.partial().front_rows.tolist()) == sorted(front.index.tolist())
    a, b = results[0].table, results[-1].table
    pd.testing.assert_frame_equal(a.sort_values(list(a.columns)).reset_index(drop=True),
                                  b.sort_values(list(b.columns)).reset_index(drop=True))


def test_work_is_factorised(lib, spec):
    """Each decode step is evaluated once per timing variant x model x mapping x batch x distinct average
    context (at most), not once per point; each prefill once per timing variant x model x mapping x input."""
    g = build_grid(lib, spec)
    res = run_sweep(lib, spec, progress=False)
    n_tv, n_m, n_t, n_p = g.tchips.shape[0], g.archs.shape[0], g.tps.shape[0], g.pps.shape[0]
    n_ctx = len(np.unique(g.inputs[:, None] + (g.outputs[None, :] - 1) / 2))
    assert res.counters[K.N_PREFILL_CALLS] == n_tv * n_m * n_t * n_p * g.inputs.shape[0]
    assert res.counters[K.N_DECODE_CALLS] <= n_tv * n_m * n_t * n_p * n_ctx * g.batches.shape[0]
    shared = g.tvar_variants.shape[1] * g.budgets.shape[0]   # chip variants of a timing variant x budgets
    assert shared == 8 and res.counters[K.N_DECODE_CALLS] * shared <= g.n_points


def test_reducer_kernels_by_hand():
    # two groups, k = 2: values 5, 3, 4 in group 0 and 1 in group 1 -> group 0 keeps 3 (row 1), 4 (row 2)
    vals = np.array([5.0, 3.0, 4.0, 1.0])
    keep = np.ones(4, dtype=np.bool_)
    groups = np.array([0, 0, 0, 1])
    best_val, best_row = np.full((2, 2), np.inf), np.full((2, 2), np.iinfo(np.int64).max)
    topk_update_nb(vals, keep, groups, 100, best_val, best_row)
    assert best_val.tolist() == [[3.0, 4.0], [1.0, np.inf]] and best_row[0].tolist() == [101, 102]
    # candidates never drop a front point: (speed, cost) = (1, 1), (2, 2), (3, 1.5): (2, 2) is dominated by (3, 1.5)
    speed, cost = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 1.5])
    cand = set(pareto_candidates_nb(speed, cost, np.ones(3, dtype=np.bool_), 2).tolist())
    assert {0, 2} <= cand


def test_sweep_cli_and_bad_axis(capsys, tmp_path, lib):
    from infersim.cli import main
    out = tmp_path / "r.csv"
    assert main(["sweep", "hbm-bandwidth-what-if", "-o", str(out), "--heatmap", "scale_memory_bandwidth,chip"]) == 0
    assert out.exists() and (tmp_path / "r-histogram.csv").exists() and (tmp_path / "r-heatmap.png").exists()
    assert (tmp_path / "r-frontier.png").exists()
    text = capsys.readouterr().out
    assert "points" in text and "peak memory" in text
    bad = tmp_path / "bad.toml"
    src = (lib.path("sweep", "hbm-bandwidth-what-if")).read_text()
    bad.write_text(src.replace('id = "hbm-bandwidth-what-if"', 'id = "bad"').replace("tp = [1, 2, 4, 8]", "tp = [0]"))
    assert main(["sweep", str(bad), "-o", str(out)]) == 2
    assert "field 'tp.0': must be >= 1, got 0" in capsys.readouterr().err


def test_dask_backend_matches_local(lib, spec):
    pytest.importorskip("dask.distributed")
    from infersim.design_space.dask_backend import run_on_dask
    from infersim.design_space.grid import build_grid, records
    from infersim.design_space.chunk import merge
    g = build_grid(lib, spec)
    ranges = [(s, s + 1) for s in range(g.n_blocks)]
    parts = run_on_dask(g, spec, ranges, None, progress=False,
                        cluster_options={"n_workers": 2, "threads_per_worker": 1, "processes": False})
    total = merge(g, spec, parts)
    local = run_sweep(lib, spec, progress=False)
    dask_table = pd.concat([records(g, total.top_rows, total.top_values, "top_k"),
                            records(g, total.front_rows, total.front_values, "pareto")], ignore_index=True)
    key = list(local.table.columns)
    pd.testing.assert_frame_equal(local.table.sort_values(key).reset_index(drop=True),
                                  dask_table.sort_values(key).reset_index(drop=True))
    assert total.feasible == local.n_feasible and np.array_equal(total.hist, local.histogram["count"].to_numpy())


def test_parquet_output(tmp_path, lib):
    pytest.importorskip("pyarrow")
    from infersim.cli import main
    out = tmp_path / "r.parquet"
    assert main(["sweep", "hbm-bandwidth-what-if", "-o", str(out)]) == 0
    assert len(pd.read_parquet(out)) > 0
