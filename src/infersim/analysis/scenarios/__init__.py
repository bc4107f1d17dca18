"""Scenario runners: one module per `kind` of workloads/scenarios/*.toml. Each returns tidy tables
(units in column names), a headline table and a one-line summary computed from them."""

from __future__ import annotations

from collections.abc import Callable

from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec
from .advantage import ASIC_CLAIM_RANGE, run_pairwise_advantage
from .budget_shock import run_budget_shock
from .deploy import ScenarioResult
from .elasticity import run_elasticity
from .latency_cost import run_latency_vs_cost
from .migration import run_migration
from .optics import run_optics
from .power_limited import run_power_limited
from .request_rate import run_request_rate
from .tiered import run_tiered
from .time_to_power import run_time_to_power

__all__ = ["ASIC_CLAIM_RANGE", "RUNNERS", "ScenarioResult", "run_scenario"]

RUNNERS: dict[str, Callable[..., ScenarioResult]] = {
    "pairwise_advantage": run_pairwise_advantage, "elasticity": run_elasticity, "budget_shock": run_budget_shock,
    "power_limited": run_power_limited, "latency_vs_cost": run_latency_vs_cost, "request_rate": run_request_rate,
    "tiered": run_tiered, "migration": run_migration,
    "optics": run_optics, "time_to_power": run_time_to_power,
}


def run_scenario(lib: Library, spec: ScenarioSpec, progress=None) -> ScenarioResult:
    """Run the scenario's kind; its lengths are checked against the model's context first."""
    from ...model.configuration import check_context

    check_context(lib.architecture(spec.model), spec.input_len, spec.output_len, spec.allow_long_context)
    return RUNNERS[spec.kind](lib, spec, progress)
