"""What every scenario shares: its result, and deploying its model on one chip at its targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ...cost.tco import chip_hour_cost, token_cost, usd_per_mtok_per_chip_hour
from ...errors import InfersimError
from ...model.configuration import Workload, resolve_precision
from ...model.mapping_search import Targets, min_chips_to_fit, search
from ...specs.library import Library
from ...specs.scenario_file import ScenarioSpec


@dataclass
class ScenarioResult:
    spec: ScenarioSpec
    headline: pd.DataFrame
    summary: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Deployment:
    chip_id: str
    kind: str
    result: object
    usd_per_chip_hour: float
    usd_per_mtok: float
    per_chip_hour: float        # $/M tokens per $ of chip-hour
    site_power_peak_w: float
    site_power_avg_w: float
    chip_price_usd: float


def scenario_targets(spec: ScenarioSpec) -> Targets:
    return Targets(spec.max_ttft_ms / 1e3 if spec.max_ttft_ms else None,
                   spec.max_tpot_ms / 1e3 if spec.max_tpot_ms else None)


def scenario_workload(spec: ScenarioSpec, lib: Library | None = None) -> Workload:
    """The scenario's lengths, with its speculative decoding (resolved against `lib`) if it names one."""
    workload = Workload(spec.input_len, spec.output_len)
    if spec.speculative:
        from dataclasses import replace

        from ...model.speculative import resolve_speculation

        if lib is None:
            raise InfersimError(f"scenario '{spec.id}' names speculative decoding: resolve it with the spec library")
        workload = replace(workload, speculation=resolve_speculation(lib, lib.architecture(spec.model), spec.speculative,
                                                                     spec.draft_tokens, spec.acceptance))
    elif spec.draft_tokens is not None or spec.acceptance is not None:
        raise InfersimError(f"scenario '{spec.id}': draft_tokens and acceptance need speculative = 'mtp' or a draft "
                            "model id")
    return workload


def scenario_chip(lib: Library, spec: ScenarioSpec, chip_id: str):
    """The chip as the scenario runs it (with another chip's efficiencies under `efficiency_like`)."""
    chip = lib.chip(chip_id)
    if spec.efficiency_like:
        chip = chip.model_copy(update={"efficiency": lib.chip(spec.efficiency_like).efficiency})
    return chip


def deploy(lib: Library, spec: ScenarioSpec, chip_id: str, budget_id: str | None = None, smallest: bool = False,
           chip=None, **search_args) -> Deployment:
    """Deploy the scenario's model on one chip: the best mapping for throughput under the
    targets, on the fewest chips that hold it when `smallest`. `chip`: the chip spec to use (e.g.
    with drawn efficiencies) instead of the library's."""
    chip = chip or scenario_chip(lib, spec, chip_id)
    arch = lib.architecture(spec.model)
    precision = resolve_precision(chip, spec.weight_dtype, spec.kv_dtype)
    search_args.setdefault("targets", scenario_targets(spec))
    if smallest:
        search_args["num_chips"], _ = min_chips_to_fit(chip, arch, precision, scenario_workload(spec, lib))
    found = search(chip, arch, precision, scenario_workload(spec, lib), **search_args)
    cost = chip_hour_cost(chip, lib.budget(budget_id or spec.budget), spec.price_basis, lib.platform_of(chip))
    tok = token_cost(found.best, cost, scenario_workload(spec, lib))
    return Deployment(chip_id, chip.kind, found.best, cost.total_usd_per_hour, tok.usd_per_mtok,
                      usd_per_mtok_per_chip_hour(found.best), cost.site_power_peak_w, cost.site_power_avg_w,
                      cost.chip_price_usd)


def require_results(spec: ScenarioSpec, found, skipped: list[tuple[str, str]]) -> None:
    """A scenario whose chips all failed (none fits, none meets the targets) is an error saying why,
    not an empty table."""
    if len(found):
        return
    limits = ", ".join(f"{n} <= {v:g} ms" for n, v in (("TTFT", spec.max_ttft_ms), ("TPOT", spec.max_tpot_ms))
                       if v is not None)
    reasons = "; ".join(f"{c}: {w}" for c, w in skipped) or "no chip to run"
    raise InfersimError(f"scenario '{spec.id}': no chip could serve {spec.model}"
                        + (f" within {limits}" if limits else "") + f" ({reasons})"
                        + (": relax max_ttft_ms / max_tpot_ms" if limits else ""))


def efficiency_bands(lib: Library, spec: ScenarioSpec, deps: list[Deployment], draws: int | None = None,
                     **deploy_args) -> dict:
    """Per deployment, its $/M tokens per $ of chip-hour under efficiency draws of the chip's prior
    (the deployment re-derived in each draw, so the targets keep holding). chip id -> EfficiencyBand."""
    from ..uncertainty import EFFICIENCY_DRAWS, efficiency_band

    out = {}
    for d in deps:
        base = scenario_chip(lib, spec, d.chip_id)
        prior_chip = lib.chip(spec.efficiency_like) if spec.efficiency_like else base
        band = efficiency_band(lib, prior_chip, lambda c, d=d, base=base: deploy(
            lib, spec, d.chip_id, chip=base.model_copy(update={"efficiency": c.efficiency}), **deploy_args).per_chip_hour,
            draws or EFFICIENCY_DRAWS, spec.seed)
        out[d.chip_id] = band
    return out


def deploy_all(lib, spec, chip_ids, progress=None, **kw):
    done, skipped = [], []
    for i, cid in enumerate(chip_ids):
        if progress:
            progress(i, len(chip_ids), cid)
        try:
            done.append(deploy(lib, spec, cid, **kw))
        except InfersimError as exc:
            skipped.append((cid, str(exc)))
    return done, skipped


def scenario_chips(lib: Library, spec: ScenarioSpec) -> list[str]:
    ids = spec.chips or lib.ids("chip")
    for c in ids + spec.baseline_chips:
        lib.path("chip", c)
    return ids


def deployment_record(d: Deployment) -> dict:
    r = d.result
    return {"chip": d.chip_id, "chip_kind": d.kind, "num_chips": r.mapping.chips, "mapping": r.mapping.label,
            "batch": r.batch, "ttft_s": r.ttft_s, "tpot_s": r.tpot_s, "user_tokens_per_s": r.user_tokens_per_s,
            "system_tokens_per_s": r.system_tokens_per_s, "tokens_per_s_per_chip": r.tokens_per_s_per_chip,
            "decode_bound": r.decode_bound, "chip_price_usd": d.chip_price_usd,
            "usd_per_chip_hour": d.usd_per_chip_hour, "usd_per_mtok": d.usd_per_mtok}
