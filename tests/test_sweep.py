"""Sweeps: the kernel against the plain-Python twins, reductions against brute force, and
results that do not depend on how the sweep is chunked."""

import numpy as np
import pandas as pd
import pytest

from infersim.kernels import grid_sweep as K
from infersim.kernels.reduce import pareto_candidates_nb, topk_update_nb
from infersim.sweep.grid import build_grid
from infersim.sweep.run import run_sweep
from tests import naive


@pytest.fixture(scope="module")
def spec(lib):
    return lib.sweep("hbm-bandwidth-what-if").model_copy(update={
        "chips": ["nvidia-h100-sxm", "google-tpu-v6e"], "tp": [1, 4], "pp": [1, 2], "batch": [1, 16, 256],
        "input_len": [256, 2048], "output_len": [128, 1024]})


def _all_rows(g):
    out = np.empty((g.n_points, K.S_FIELDS))
    K.sweep_nb(g.archs, g.chips, g.costs, g.budgets, g.tps, g.pps, g.inputs, g.outputs, g.batches, g.w_bytes,
               g.kv_bytes, 2.0, 8192.0, 0, g.n_outer, out)
    return out


def test_sweep_kernel_matches_the_twins(lib, spec):
    g = build_grid(lib, spec)
    out = _all_rows(g)
    rng = np.random.default_rng(3)
    dims = (g.chips.shape[0], g.archs.shape[0], g.budgets.shape[0], g.tps.shape[0], g.pps.shape[0],
            g.inputs.shape[0], g.outputs.shape[0])
    n_fit = 0
    for row in rng.integers(0, g.n_points, 150):
        c, m, b, t, p, i, o = np.unravel_index(row // g.batches.shape[0], dims)
        batch = g.batches[row % g.batches.shape[0]]
        twin = naive.evaluate(g.archs[m], g.chips[c], g.tps[t], g.pps[p], 1.0, batch, g.inputs[i], g.outputs[o],
                              g.w_bytes, g.kv_bytes, 2.0, 1, 8192.0)
        assert (out[row, K.S_FITS] == 1.0) == twin["fits"]
        if not twin["fits"]:
            continue
        n_fit += 1
        usd_h = naive.chip_hour_cost(g.costs[c], g.budgets[b])["total"]
        chips = g.tps[t] * g.pps[p]
        assert out[row, K.S_TTFT_S] == pytest.approx(twin["ttft_s"], rel=1e-12)
        assert out[row, K.S_TPOT_S] == pytest.approx(twin["tpot_s"], rel=1e-12)
        assert out[row, K.S_TOK_S_PER_CHIP] == pytest.approx(twin["system_tok_s"] / chips, rel=1e-12)
        assert out[row, K.S_USD_PER_MTOK] == pytest.approx(chips * usd_h / (twin["system_tok_s"] * 3600) * 1e6, rel=1e-12)
    assert n_fit > 30


def test_reductions_match_brute_force_and_ignore_chunking(lib, spec):
    g = build_grid(lib, spec)
    out = _all_rows(g)
    ok = (out[:, K.S_FITS] == 1.0) & (out[:, K.S_TPOT_S] <= spec.reduce.max_tpot_ms / 1e3)
    df = pd.DataFrame({"row": np.arange(g.n_points), "usd": out[:, K.S_USD_PER_MTOK],
                       "speed": out[:, K.S_USER_TOK_S]})[ok]
    df["variant"] = (df["row"] // g.batches.shape[0]) // (g.n_outer // g.chips.shape[0])
    # brute-force top-k per variant, and the Pareto front by definition
    top = df.sort_values(["usd", "row"]).groupby("variant").head(spec.reduce.top_k)
    front = [r.row for r in df.itertuples() if not ((df["speed"] >= r.speed) & (df["usd"] < r.usd)).any()
             and not ((df["speed"] > r.speed) & (df["usd"] <= r.usd)).any()]
    results = [run_sweep(lib, spec, chunk_points=c, progress=False) for c in (97, 1000, 10_000_000)]
    for res in results:
        t = res.table
        assert res.n_feasible == int(ok.sum())
        kept = t[t["kept_as"] == "top_k"]
        assert np.allclose(np.sort(kept["usd_per_mtok"]), np.sort(top["usd"]))
        assert sorted(t[t["kept_as"] == "pareto"]["usd_per_mtok"]) == pytest.approx(sorted(df.set_index("row").loc[front, "usd"]))
        assert res.histogram["count"].sum() == int(ok.sum())
    a, b = results[0].table, results[-1].table
    pd.testing.assert_frame_equal(a.sort_values(list(a.columns)).reset_index(drop=True),
                                  b.sort_values(list(b.columns)).reset_index(drop=True))


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
    assert "axis tp needs whole numbers >= 1" in capsys.readouterr().err


def test_dask_backend_matches_local(lib, spec):
    pytest.importorskip("dask.distributed")
    from infersim.sweep.dask_backend import run_on_dask
    from infersim.sweep.grid import build_grid, records
    from infersim.sweep.chunk import merge
    g = build_grid(lib, spec)
    nb = g.batches.shape[0]
    step = max(1, 500 // nb)
    ranges = [(s, min(s + step, g.n_outer)) for s in range(0, g.n_outer, step)]
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
