"""Find spec files: the bundled library plus the user's own folders.

Search order: folders given with --specs-dir, then $INFERSIM_SPECS_PATH (os.pathsep-separated),
then the bundled library. A user's file with the same id as a bundled one takes its place (said once
on stderr when it is used). Two files with one id in one folder tree are an error naming both, when
that id is used. A file is read only when its spec is needed, so one bad file breaks only the
commands that need it.
Within one folder tree the category comes from the folder name: files under `models/` are
model architectures, `traffic/` traffic, `budgets/` budgets, `platforms/` platforms (the system
around a chip), `load_profiles/` load profiles, `scenarios/` scenarios, `sweeps/` sweeps,
`efficiency/` calibration fits of hardware families; every other *.toml is a chip.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from ..errors import SpecError, UnknownIdError
from . import loader
from .budget import BudgetSpec
from .chip import ChipSpec
from .efficiency_fit import EfficiencyFamily
from .load_profile import LoadProfileSpec
from .model_arch import Architecture, HFConfig, ModelSpec, normalise
from .platform import PlatformSpec
from .scenario_file import ScenarioSpec
from .sweep_file import SweepSpec
from .traffic import TrafficSpec

Category = Literal["chip", "model", "traffic", "budget", "platform", "load_profile", "scenario", "sweep",
                   "efficiency"]
_CATEGORY_DIRS = {"models": "model", "traffic": "traffic", "budgets": "budget", "platforms": "platform",
                  "load_profiles": "load_profile", "scenarios": "scenario", "sweeps": "sweep",
                  "efficiency": "efficiency"}
_NOTED: set[tuple[str, str, Path]] = set()  # replacements already reported in this process


def note_on_stderr(message: str) -> None:
    print(f"infersim: note: {message}", file=sys.stderr)


_SKIPPED_DIRS: set[str] = set()
_SCHEMAS = {"chip": ChipSpec, "model": ModelSpec, "traffic": TrafficSpec, "budget": BudgetSpec,
            "platform": PlatformSpec, "load_profile": LoadProfileSpec, "scenario": ScenarioSpec, "sweep": SweepSpec,
            "efficiency": EfficiencyFamily}
# the platform of a chip whose spec names none
DEFAULT_PLATFORM = {"cpu": "cpu-2socket-server"}
DEFAULT_ACCELERATOR_PLATFORM = "generic-accelerator-server"
WHOLE_SYSTEM_PLATFORM = "whole-system"   # the chip's price includes its system (price.includes_server)
ENV_VAR = "INFERSIM_SPECS_PATH"


def bundled_roots() -> list[Path]:
    """hardware_specs/ and workloads/: the wheel's copy, or the source checkout's."""
    data = Path(str(resources.files("infersim"))) / "_data"
    if data.is_dir():
        return [data / "hardware_specs", data / "workloads"]
    repo = Path(__file__).resolve().parents[3]
    return [repo / "hardware_specs", repo / "workloads"]


def category_of(path: Path) -> Category | None:
    """Category from the nearest parent folder named models/, traffic/ or budgets/."""
    for part in reversed(path.parts[:-1]):
        if part in _SKIPPED_DIRS:
            return None
        if part in _CATEGORY_DIRS:
            return _CATEGORY_DIRS[part]  # type: ignore[return-value]
        if part in ("hardware_specs", "workloads"):
            break
    return "chip"


@dataclass
class Library:
    """Index of every spec file on the search path; loads and caches specs on demand."""

    user_dirs: list[Path] = field(default_factory=list)
    use_env: bool = True
    note: Callable[[str], None] = note_on_stderr  # where "a user file replaces a bundled one" is said
    _index: dict[str, dict[str, Path]] = field(default_factory=dict, init=False)
    _cache: dict[Path, object] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        roots = list(self.user_dirs)
        if self.use_env and os.environ.get(ENV_VAR):
            roots += [Path(p) for p in os.environ[ENV_VAR].split(os.pathsep) if p]
        for r in roots:
            source = f"--specs-dir or ${ENV_VAR}"
            if not r.exists():
                raise SpecError(f"specs folder '{r}' does not exist (from {source}): create it or fix the path")
            if not r.is_dir():
                raise SpecError(f"specs folder '{r}' is a file, not a folder (from {source}): give its folder")
        bundled = bundled_roots()
        self.roots = roots + bundled
        self._index = {c: {} for c in _SCHEMAS}
        self._duplicates: dict[tuple[str, str], list[Path]] = {}   # (category, id) -> files in one root
        self._replaced: dict[tuple[str, str], Path] = {}           # (category, id) -> the bundled file replaced
        # later roots must not override earlier ones: walk in reverse, earlier overwrite
        for root in reversed(self.roots):
            if not root.is_dir():
                continue
            in_root: dict[tuple[str, str], list[Path]] = {}
            for path in sorted(root.rglob("*.toml")):
                if not path.is_file():  # a folder named *.toml is not a spec
                    continue
                cat = category_of(path.relative_to(root))
                if cat is None:
                    continue
                key = (cat, path.stem)
                in_root.setdefault(key, []).append(path)
                previous = self._index[cat].get(path.stem)
                if previous is not None and root not in bundled and any(previous.is_relative_to(b) for b in bundled):
                    self._replaced[key] = previous
                self._index[cat][path.stem] = path
            for key, paths in in_root.items():
                if len(paths) > 1:
                    self._duplicates[key] = paths
                else:
                    self._duplicates.pop(key, None)  # an earlier root's single file wins over a later duplicate

    # ---- lookup -------------------------------------------------------------------------
    def ids(self, category: Category) -> list[str]:
        return sorted(self._index[category])

    def path(self, category: Category, spec_id: str) -> Path:
        try:
            path = self._index[category][spec_id]
        except KeyError:
            raise UnknownIdError(f"unknown {category} id '{spec_id}': {self._hint(category, spec_id)}") from None
        paths = self._duplicates.get((category, spec_id))
        if paths:
            raise SpecError(f"{category} id '{spec_id}' is defined twice in one folder: {paths[0]} and {paths[1]}: "
                            "rename or remove one of them")
        return path

    def _hint(self, category: Category, spec_id: str) -> str:
        near = difflib.get_close_matches(spec_id, self.ids(category), n=3, cutoff=0.4)
        if near:
            return f"did you mean {', '.join(near)}?"
        elsewhere = [c for c in _SCHEMAS if c != category and spec_id in self._index[c]]
        if elsewhere:
            return f"'{spec_id}' is a {elsewhere[0]}, not a {category}"
        return f"see `infersim specs list --{category}`"

    def problems(self) -> list[str]:
        """One line per id defined twice in one folder (what `infersim specs check` reports besides the files)."""
        return [f"{c} id '{i}' is defined twice in one folder: {ps[0]} and {ps[1]}: rename or remove one of them"
                for (c, i), ps in sorted(self._duplicates.items())]

    def _load(self, category: Category, spec_id: str):
        path = self.path(category, spec_id)
        if path not in self._cache:
            self._cache[path] = loader.load(path, _SCHEMAS[category])
            bundled = self._replaced.get((category, spec_id))
            if bundled is not None and (category, spec_id, path) not in _NOTED:
                _NOTED.add((category, spec_id, path))
                self.note(f"{category} '{spec_id}' is read from {path}, in place of the bundled {bundled}")
        return self._cache[path]

    def chip(self, chip_id: str) -> ChipSpec:
        return self._load("chip", chip_id)

    def model(self, model_id: str) -> ModelSpec:
        return self._load("model", model_id)

    def traffic(self, traffic_id: str) -> TrafficSpec:
        return self._load("traffic", traffic_id)

    def budget(self, budget_id: str) -> BudgetSpec:
        return self._load("budget", budget_id)

    def platform(self, platform_id: str) -> PlatformSpec:
        return self._load("platform", platform_id)

    def platform_of(self, chip: ChipSpec) -> PlatformSpec:
        """The platform a chip is deployed in: its spec's `platform`, else a generic one for its kind."""
        if chip.platform:
            return self.platform(chip.platform)
        if chip.price.includes_server:
            return self.platform(WHOLE_SYSTEM_PLATFORM)
        return self.platform(DEFAULT_PLATFORM.get(chip.kind, DEFAULT_ACCELERATOR_PLATFORM))

    def load_profile(self, profile_id: str) -> LoadProfileSpec:
        return self._load("load_profile", profile_id)

    def scenario(self, scenario_id: str) -> ScenarioSpec:
        return self._load("scenario", scenario_id)

    def sweep(self, sweep_id: str) -> SweepSpec:
        return self._load("sweep", sweep_id)

    def efficiency_family(self, family_id: str) -> EfficiencyFamily:
        return self._load("efficiency", family_id)

    def architecture(self, model: str) -> Architecture:
        """A library model id, a path to a Hugging Face config.json, or a model folder holding one
        (read as it is, with transformers' defaults for what it leaves out)."""
        if model.endswith(".json"):
            return architecture_from_config_json(Path(model))
        if model not in self._index["model"] and ("/" in model or os.sep in model or Path(model).is_dir()):
            folder = Path(model)
            if not folder.is_dir():
                raise UnknownIdError(f"model '{model}' is neither a model id nor a folder: give an id "
                                     f"(`infersim specs list --model`), a config.json or a folder holding one")
            if not (folder / "config.json").is_file():
                raise SpecError(f"model folder '{folder}' has no config.json: give the folder of a Hugging Face "
                                f"checkpoint or the path of its config.json")
            return architecture_from_config_json(folder / "config.json")
        spec = self.model(model)
        return _normalise_or_raise(self.path("model", model), spec.id, spec.config)

    def table(self, category: Category | None = None):
        """Every spec (or those of one category) as a DataFrame: category, id, path."""
        import pandas as pd

        cats = [category] if category else list(_SCHEMAS)
        return pd.DataFrame([{"category": c, "id": i, "path": str(self._index[c][i])} for c in cats for i in self.ids(c)],
                            columns=["category", "id", "path"])

    def all_files(self) -> list[tuple[Category, Path]]:
        return [(cat, p) for cat in _SCHEMAS for p in self._index[cat].values()]


def _normalise_or_raise(path: Path, model_id: str, cfg: HFConfig) -> Architecture:
    try:
        return normalise(model_id, cfg)
    except ValueError as exc:
        raise SpecError(f"{path}: {exc}") from None


def architecture_from_config_json(path: Path) -> Architecture:
    from pydantic import ValidationError

    picked, _ignored = loader.read_hf_config(path)
    try:
        cfg = HFConfig.model_validate(picked)
    except ValidationError as exc:
        raise loader.spec_error(path, loader.format_validation_error(path, HFConfig, exc).splitlines()) from None
    return _normalise_or_raise(path, path.parent.name if path.name == "config.json" and path.parent.name else path.stem,
                               cfg)


def check_file(path: Path) -> list[str]:
    """Validate one file as whatever its folder says it is (a .json file: a Hugging Face
    config.json); [] when valid, else error lines."""
    if path.suffix == ".json":
        try:
            architecture_from_config_json(path)
        except SpecError as exc:
            return str(exc).splitlines()
        return []
    cat = category_of(path)
    if cat is None:
        return []
    try:
        spec = loader.load(path, _SCHEMAS[cat])
        if cat == "model":
            _normalise_or_raise(path, spec.id, spec.config)
    except SpecError as exc:
        return getattr(exc, "problems", None) or str(exc).splitlines()
    return []
