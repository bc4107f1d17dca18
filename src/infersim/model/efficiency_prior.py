"""What is known about a chip's efficiencies, as a distribution to sample: hierarchical over the
calibration fits of hardware families (hardware_specs/efficiency/*.toml).

Tiers, most to least informed:
- 'own rows': the chip has measured rows in its family's fit; its efficiencies are the fit's values
  with the fit's uncertainty (the Gauss-Newton covariance, ln units).
- 'family fit': the chip's family was fitted on other chips; the family's values, the fit's
  uncertainty, and a common factor exp(e) on its achieved fractions (e ~ N(0, chip_sd_log), the
  measured spread of a chip about its family) for what makes this chip different.
- 'cross-family prior': no fit covers the chip's family; a fitted family of the same kind
  (accelerator or CPU) is drawn at random, with its uncertainty and the chip factor. The centre is
  the median over those families.
- 'own spatial fit': a spatial chip (a [spatial] section) whose values come from its own fit
  (benchmarks/accuracy/spatial_fit.py); each value drawn lognormally about it with the spread of
  that parameter across the fitted families.
- 'chip file': there are no fits at all; the chip file's values, not varied.

Every uncertainty is capped at the spread across families of the same parameter (a fit can know a
parameter less well than the data of all families do only when its rows do not constrain it).
Draws are clipped to the efficiency bounds. `sample` returns one dict of [efficiency] values per
draw; `chip_draws` chips with them, for a Monte Carlo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..specs.chip import ChipSpec
from ..specs.efficiency_fit import EfficiencyFamily
from ..specs.library import Library

# the achieved fractions a chip factor scales (overheads scale by its inverse); bounds of every parameter
FRACTIONS = ("prefill_compute", "decode_compute", "memory_bandwidth", "interconnect")
OVERHEADS = ("step_overhead_s", "prefill_overhead_s")
BOUNDS = {"prefill_compute": (0.01, 1.0), "decode_compute": (0.01, 1.0), "memory_bandwidth": (0.02, 1.0),
          "interconnect": (0.01, 1.0), "step_overhead_s": (0.0, 1.0), "prefill_overhead_s": (0.0, 10.0),
          "overlap_loss": (0.0, 1.0), "fp4_compute_scale": (0.05, 1.0)}
TIERS = ("own rows", "family fit", "own spatial fit", "cross-family prior", "chip file")


@dataclass(frozen=True)
class FamilyDraw:
    """One family's fit as a distribution: ln-values and their covariance over `names`."""

    family: str
    values: dict[str, float]
    names: tuple[str, ...]
    mean_log: np.ndarray
    cov_log: np.ndarray


@dataclass(frozen=True)
class EfficiencyPrior:
    chip_id: str
    tier: str                               # one of TIERS
    source: str                             # where the efficiencies come from, in words
    centre: dict[str, float]                # the values deterministic runs use (the chip file's)
    families: tuple[FamilyDraw, ...] = ()   # the fits to draw from (one, or several for the prior)
    chip_sd_log: float = 0.0                # spread of this chip about the drawn family (0: own rows)
    sd_log: dict[str, float] = field(default_factory=dict)   # marginal ln-sd of each parameter (reports)

    def sample(self, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
        """`n` draws of the [efficiency] values (keys as the chip file's)."""
        if not self.families:
            return [dict(self.centre) for _ in range(n)]
        out = []
        picks = rng.integers(len(self.families), size=n)
        chip_factor = np.exp(rng.normal(0.0, self.chip_sd_log, size=n)) if self.chip_sd_log > 0 else np.ones(n)
        for k in range(n):
            fam = self.families[picks[k]]
            base = dict(self.centre) if self.tier == "own rows" else dict(fam.values)
            if len(fam.names):
                x = rng.multivariate_normal(fam.mean_log, fam.cov_log, method="eigh")
                base.update({name: math.exp(v) for name, v in zip(fam.names, x)})
            for name in FRACTIONS:
                if name in base:
                    base[name] *= chip_factor[k]
            for name in OVERHEADS:
                if name in base:
                    base[name] /= chip_factor[k]
            out.append({name: _clip(name, v) for name, v in base.items()})
        return out

    def chip_draws(self, chip: ChipSpec, n: int, seed: int = 0) -> list[ChipSpec]:
        """The chip with `n` sampled efficiencies."""
        rng = np.random.default_rng(seed)
        return [chip.model_copy(update={"efficiency": chip.efficiency.model_copy(update=d)})
                for d in self.sample(rng, n)]


def _clip(name: str, v: float) -> float:
    lo, hi = BOUNDS.get(name, (0.0, math.inf))
    return min(max(v, lo), hi) if name != "overlap_loss" or v > 0 else 0.0


def chip_kind_class(chip: ChipSpec) -> str:
    return "cpu" if chip.kind == "cpu" else "accelerator"


def family_of(families: list[EfficiencyFamily], chip: ChipSpec) -> EfficiencyFamily | None:
    """The fitted family whose longest chip prefix matches the chip's id and whose chips with rows are
    of the chip's kind (an LPU named like a vendor's GPUs is not in their family), if any."""
    best, length = None, -1
    kind = chip_kind_class(chip)
    for fam in families:
        if fam.kind != kind or chip.kind not in fam.chip_kinds:
            continue
        for p in fam.chip_prefixes:
            if chip.id.startswith(p) and len(p) > length:
                best, length = fam, len(p)
    return best


def _draw_of(fam: EfficiencyFamily, cap: dict[str, float]) -> FamilyDraw:
    names = tuple(fam.param_order)
    mean = np.array([math.log(max(fam.values[k], 1e-12)) for k in names])
    cov = np.array(fam.covariance_log, dtype=float).reshape(len(names), len(names))
    if len(names):
        sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        limit = np.array([cap.get(k, math.inf) for k in names])
        scale = np.where((sd > limit) & (sd > 0), limit / np.where(sd > 0, sd, 1.0), 1.0)
        cov = cov * scale[:, None] * scale[None, :]
    return FamilyDraw(fam.id, dict(fam.values), names, mean, cov)


def cross_family_spread(families: list[EfficiencyFamily]) -> dict[str, float]:
    """Per parameter, the sd of ln(value) across the families that fitted it (inf with fewer than 2)."""
    out = {}
    for k in BOUNDS:
        vals = [math.log(f.values[k]) for f in families if k in f.fitted and f.values.get(k, 0) > 0]
        out[k] = float(np.std(vals, ddof=1)) if len(vals) >= 2 else math.inf
    return out


def library_families(lib: Library) -> list[EfficiencyFamily]:
    return [lib.efficiency_family(f) for f in lib.ids("efficiency")]


def efficiency_prior(lib: Library, chip: ChipSpec | str,
                     families: list[EfficiencyFamily] | None = None) -> EfficiencyPrior:
    """The distribution of a chip's efficiencies (see the module docstring for the tiers), over the
    library's family fits (or `families`)."""
    chip = chip if isinstance(chip, ChipSpec) else lib.chip(chip)
    eff = chip.efficiency
    centre = {k: v for k, v in eff.model_dump().items() if k in BOUNDS and v is not None}
    every = library_families(lib) if families is None else families
    if not every:
        return EfficiencyPrior(chip.id, "chip file", f"the chip file's values ({eff.basis}); no family fits to vary them",
                               centre)
    cap = cross_family_spread(every)
    fam = family_of(every, chip)
    if fam is not None and chip.id in fam.chips_with_rows:
        draw = _draw_of(fam, cap)
        return EfficiencyPrior(chip.id, "own rows", f"family {fam.id} fit on {len(fam.fitted_on)} rows from "
                               f"{len(fam.sources)} source(s), rows of its own", centre, (draw,), 0.0, _sd(draw))
    if fam is not None:
        draw = _draw_of(fam, cap)
        return EfficiencyPrior(chip.id, "family fit", f"family {fam.id} fit on {len(fam.fitted_on)} rows of "
                               f"{', '.join(fam.chips_with_rows)}; no rows of its own (chip spread "
                               f"{fam.chip_sd_log:.2f} ln)", centre, (draw,), fam.chip_sd_log, _sd(draw))
    if chip.spatial is not None:
        # a spatial chip's values come from its own fit (benchmarks/accuracy/spatial_fit.py); what is not
        # known about them is drawn with the spread of the fitted families' values around them
        names = tuple(k for k in centre if math.isfinite(cap.get(k, math.inf)) and centre[k] > 0)
        draw = FamilyDraw("spatial", dict(centre), names, np.log([centre[k] for k in names]),
                          np.diag([cap[k] ** 2 for k in names]))
        return EfficiencyPrior(chip.id, "own spatial fit", "the chip file's values (its own spatial fit, "
                               "benchmarks/accuracy/spatial_fit.py), drawn with the spread across the fitted families",
                               centre, (draw,), 0.0, {k: cap[k] for k in names})
    kind = chip_kind_class(chip)
    peers = [f for f in every if f.kind == kind] or every
    draws = tuple(_draw_of(f, cap) for f in peers)
    spread = float(np.mean([f.chip_sd_log for f in peers]))
    return EfficiencyPrior(chip.id, "cross-family prior", f"no fitted family: drawn from the {len(peers)} "
                           f"{kind} family fits ({', '.join(f.id for f in peers)})", centre, draws, spread,
                           {k: cap[k] for k in cap if math.isfinite(cap[k])})


def _sd(draw: FamilyDraw) -> dict[str, float]:
    return {k: float(math.sqrt(max(draw.cov_log[i, i], 0.0))) for i, k in enumerate(draw.names)}


def cross_family_centre(families: list[EfficiencyFamily], kind: str) -> dict[str, float]:
    """Per parameter, the median over the fitted families of `kind` (the centre of the prior)."""
    peers = [f for f in families if f.kind == kind] or families
    out = {}
    for k in BOUNDS:
        vals = [f.values[k] for f in peers if k in f.values]
        if vals:
            out[k] = float(np.median(vals))
    return out
