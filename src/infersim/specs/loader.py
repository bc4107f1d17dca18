"""Read spec files (TOML, or a Hugging Face config.json) into validated spec objects.

Every failure becomes a SpecError naming the file, the key and the fix; an unknown key names
the nearest valid key.
"""

from __future__ import annotations

import difflib
import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import SpecError
from .common import SCHEMA_VERSION

M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at `loc` (for nearest-key suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None / list[X] -> X."""
    args = getattr(annotation, "__args__", None)
    if args:
        for a in args:
            if isinstance(a, type) and issubclass(a, BaseModel):
                return a
    return annotation


def format_validation_error(path: Path, model: type[BaseModel], exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            valid = list(owner.model_fields) if owner else []
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
            hint = f"did you mean '{near[0]}'?" if near else f"valid keys here: {', '.join(valid)}"
            lines.append(f"{path}: unknown key '{key}': {hint}")
        elif err["type"] == "missing":
            lines.append(f"{path}: missing field '{key}': add it (see the schema in infersim.specs)")
        else:
            lines.append(f"{path}: field '{key}': {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def validate(path: Path, data: dict[str, Any], model: type[M]) -> M:
    """Validate `data` read from `path` against `model`, checking schema_version and id."""
    version = data.get("schema_version")
    if version is None:
        raise SpecError(f"{path}: missing field 'schema_version': add schema_version = {SCHEMA_VERSION}")
    if version != SCHEMA_VERSION:
        raise SpecError(
            f"{path}: schema_version {version!r} is not supported: this infersim reads schema_version = {SCHEMA_VERSION}"
        )
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(path, model, exc)) from None
    spec_id = getattr(spec, "id", None)
    if spec_id is not None and spec_id != path.stem:
        raise SpecError(f"{path}: id '{spec_id}' differs from the file name: rename the file to {spec_id}.toml or set id = '{path.stem}'")
    return spec


def load(path: Path, model: type[M]) -> M:
    return validate(path, read_toml(path), model)


def read_hf_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a Hugging Face config.json as it is: (fields infersim models, ignored keys). A config
    of an architecture infersim does not model (state-space or linear-attention layers, encoder-
    only, encoder-decoder) is refused with the field that says so."""
    from .model_arch import HFConfig, unsupported_architecture

    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a JSON object with config.json fields")
    # multimodal configs nest the language model under text_config
    why = unsupported_architecture(raw)
    if why:
        raise SpecError(f"{path}: {why}")
    if "text_config" in raw and "num_hidden_layers" not in raw and isinstance(raw["text_config"], dict):
        text = raw["text_config"]
        outer = {k: raw[k] for k in ("tie_word_embeddings",) if k in raw and k not in text}
        raw = {**text, **outer, "model_type": text.get("model_type", raw.get("model_type"))}
        why = unsupported_architecture(raw)
        if why:
            raise SpecError(f"{path}: text_config: {why}")
    known = set(HFConfig.model_fields)
    picked = {k: v for k, v in raw.items() if k in known and v is not None}
    ignored = sorted(k for k in raw if k not in known)
    return picked, ignored
