"""The public API: its docstring examples (run as doctests), lazy loading, and that ids and spec
objects give the same answer."""

import doctest
import os
import subprocess
import sys
from pathlib import Path

import pytest

import infersim
from infersim import api
from infersim.model.mapping_search import chip_counts

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.jit_only
def test_docstring_examples_run(monkeypatch):
    monkeypatch.chdir(REPO)  # validate's example reads benchmarks/accuracy/calibration.csv
    result = doctest.testmod(api, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 15
    assert result.failed == 0


def test_import_is_cheap():
    """`import infersim` loads none of the heavy libraries (the CLI's start-up)."""
    code = "import sys, infersim; print(sorted(m for m in ('pandas', 'numba', 'scipy', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert out.stdout.strip() == "[]"


def test_public_names():
    assert set(infersim.__all__) == {"load_library", "compare", "evaluate", "goodput", "frontier", "sweep", "validate"}
    assert infersim.compare is api.compare
    with pytest.raises(AttributeError):
        infersim.no_such_function  # noqa: B018


def test_sweep_is_the_api_function_even_after_the_grid_engine_is_imported():
    import infersim.design_space.run as run_module  # importing a subpackage binds only its own name

    assert callable(infersim.sweep)
    assert infersim.sweep.__module__ == "infersim.api"
    assert run_module.run_sweep is infersim.design_space.run.run_sweep


def test_spec_objects_give_what_ids_give():
    lib = infersim.load_library()
    by_id = infersim.compare("llama-3.1-8b", ["nvidia-h100-sxm"], library=lib)
    by_spec = infersim.compare(lib.architecture("llama-3.1-8b"), [lib.chip("nvidia-h100-sxm")],
                               budget=lib.budget("central-2025"))
    assert by_id.drop(columns=["chip_counts_tried"]).equals(by_spec.drop(columns=["chip_counts_tried"]))
    assert by_id.usd_per_mtok[0] == by_spec.usd_per_mtok[0]


def test_evaluate_at_the_mapping_compare_chose():
    """evaluate() at compare's chip count, mapping and batch gives compare's figures."""
    best = infersim.compare("llama-3.1-70b", ["nvidia-h100-sxm"], weight_dtype="fp8").iloc[0]
    one = infersim.evaluate("llama-3.1-70b", "nvidia-h100-sxm", weight_dtype="fp8", tp=int(best.tp), pp=int(best.pp),
                            dp=int(best.dp), batch=int(best.batch)).iloc[0]
    for col in ("tpot_s", "ttft_s", "tokens_per_s_per_chip", "usd_per_mtok"):
        assert one[col] == pytest.approx(best[col], rel=1e-12)


def test_units_in_column_names():
    df = infersim.compare("llama-3.1-8b", ["nvidia-h100-sxm"], uncertainty_samples=200)
    for col in ("ttft_s", "tpot_s", "user_tokens_per_s", "tokens_per_s_per_chip", "usd_per_mtok", "usd_per_chip_hour",
                "chip_price_usd", "usd_per_mtok_p10", "tokens_per_s_per_mw"):
        assert col in df.columns


def test_bad_argument_is_one_line_error():
    with pytest.raises(infersim.errors.InfersimError, match="input_len must be a whole number"):
        infersim.compare("llama-3.1-8b", ["nvidia-h100-sxm"], input_len=0)
    with pytest.raises(infersim.errors.InfersimError, match="unknown chip id"):
        infersim.evaluate("llama-3.1-8b", "nvidia-h1000")


@pytest.mark.parametrize("chip_id", ["nvidia-h100-pcie", "nvidia-l40s", "nvidia-rtx-4090", "nvidia-h100-nvl",
                                     "nvidia-rtx-pro-6000", "nvidia-rubin-cpx"])
def test_pcie_cards_search_a_full_server(chip_id):
    """Chips without a scale-up fabric are deployed 8 to a server: the default search tries 8
    whatever the fewest that hold the model (1 to 8)."""
    chip = infersim.load_library().chip(chip_id)
    for need in range(1, 9):
        counts = chip_counts(chip, need, None)
        assert counts[0] == need and 8 in counts and counts == sorted(set(counts))
