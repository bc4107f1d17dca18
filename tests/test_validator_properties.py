"""Properties of the validators (Hypothesis): any value, finite or not, in any numeric field of a chip
or a budget either validates or raises a SpecError naming that field, never anything else; whatever
validates gives a finite, non-negative $/chip-hour; the CLI's number types accept exactly the
finite values in their range."""

import argparse
import copy
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infersim.cli.options import float_in, int_in, milliseconds, probability, token_count
from infersim.cost.tco import chip_hour_cost
from infersim.errors import SpecError
from infersim.specs.budget import BudgetSpec
from infersim.specs.chip import ChipSpec
from infersim.specs.loader import validate

ROOT = Path(__file__).resolve().parents[1]
H100 = ROOT / "hardware_specs" / "gpu" / "nvidia-h100-sxm.toml"
BUDGET = ROOT / "hardware_specs" / "budgets" / "central-2025.toml"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def numeric_leaves(data, prefix=()):
    """Paths to every number (not bool) in a nested dict/list."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from numeric_leaves(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from numeric_leaves(v, (*prefix, i))
    elif isinstance(data, (int, float)) and not isinstance(data, bool):
        yield prefix


def set_at(data, path, value):
    out = copy.deepcopy(data)
    node = out
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return out


CHIP = tomllib.loads(H100.read_text())
BUDGET_DATA = tomllib.loads(BUDGET.read_text())
CHIP_PATHS = [p for p in numeric_leaves(CHIP) if p[0] != "schema_version"]
BUDGET_PATHS = [p for p in numeric_leaves(BUDGET_DATA) if p[0] != "schema_version"]

ANY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e3, max_value=1e3),
    st.integers(min_value=-10**30, max_value=10**30),
    st.sampled_from([0, 0.0, -0.0, 1, 1.0, 1e-300, 1e300, math.inf, -math.inf, math.nan, True, False, "1", None]),
)


def _field(path) -> str:
    return ".".join(str(p) for p in path)


@pytest.fixture(scope="module")
def central(lib):
    return lib.budget("central-2025")


@SETTINGS
@given(path=st.sampled_from(CHIP_PATHS), value=ANY_NUMBER)
def test_any_value_in_a_chip_field_validates_or_names_the_field(lib, central, path, value):
    data = set_at(CHIP, path, value)
    try:
        chip = validate(H100, data, ChipSpec)
    except SpecError as exc:
        text = str(exc)
        assert "\n" not in text and str(H100) in text
        # the message names the field (or the table whose rule it breaks)
        assert any(_field(path[:n]) in text for n in range(len(path), 0, -1)), (path, text)
        return
    cost = chip_hour_cost(chip, central, "owner", lib.platform_of(chip))
    assert math.isfinite(cost.total_usd_per_hour) and cost.total_usd_per_hour >= 0, (path, value, cost)


@SETTINGS
@given(path=st.sampled_from(BUDGET_PATHS), value=ANY_NUMBER)
def test_any_value_in_a_budget_field_validates_or_names_the_field(lib, path, value):
    data = set_at(BUDGET_DATA, path, value)
    try:
        budget = validate(BUDGET, data, BudgetSpec)
    except SpecError as exc:
        text = str(exc)
        assert "\n" not in text and str(BUDGET) in text
        assert any(_field(path[:n]) in text for n in range(len(path), 0, -1)), (path, text)
        return
    chip = lib.chip("nvidia-h100-sxm")
    cost = chip_hour_cost(chip, budget, "owner", lib.platform_of(chip))
    assert math.isfinite(cost.total_usd_per_hour) and cost.total_usd_per_hour >= 0, (path, value, cost)


TEXT_NUMBERS = st.one_of(
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**20, max_value=10**20).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", " 5 ", "0x10", "1_000", "", "-0"]),
)


@settings(max_examples=300, deadline=None)
@given(text=TEXT_NUMBERS)
def test_cli_number_types_accept_exactly_finite_values_in_range(text):
    for parse, low, high, low_open, high_open in ((milliseconds, 0.0, 1e9, True, False),
                                                  (probability, 0.0, 1.0, False, True),
                                                  (float_in(-1.0, 1.0, "x"), -1.0, 1.0, False, False)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            continue
        assert math.isfinite(value) and low <= value <= high
        assert not (low_open and value == low) and not (high_open and value == high)
    for parse, low, high in ((token_count, 1, 10**9), (int_in(-5, 5), -5, 5)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as exc:
            assert "\n" not in str(exc)
            continue
        assert isinstance(value, int) and low <= value <= high
