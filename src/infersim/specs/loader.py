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


MAX_SPEC_BYTES = 16 * 2**20  # no spec file is near this; a larger one is not a spec (and is not read whole)


def read_text(path: Path) -> str:
    """A spec file's text: UTF-8 (a leading byte-order mark is allowed and dropped). Every failure to
    read is a one-line SpecError naming the file."""
    try:
        if path.is_dir():
            raise SpecError(f"{path}: is a folder, not a file: give the spec file inside it")
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: {size / 2**20:.0f} MiB is too large for a spec file "
                            f"(at most {MAX_SPEC_BYTES // 2**20} MiB): is it the right file?")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if b"\x00" in raw:
        raise SpecError(f"{path}: is a binary file, not a text spec file: give the .toml or .json file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: is not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}): "
                        "save it as UTF-8") from None


def read_toml(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    except RecursionError:
        raise SpecError(f"{path}: tables or arrays nested too deeply to be a spec file") from None


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


_BOUNDS = {"greater_than": (">", "gt", "above"), "greater_than_equal": (">=", "ge", "at least"),
           "less_than": ("<", "lt", "below"), "less_than_equal": ("<=", "le", "at most")}


def _shown(value: Any) -> str:
    """A value as the user wrote it in TOML/JSON (true, not True); long ones cut."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_error(err: dict[str, Any]) -> str:
    """What is wrong with one value and how to fix it, from a pydantic error."""
    t, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    if t in _BOUNDS:
        sign, key, word = _BOUNDS[t]
        return f"must be {sign} {ctx[key]:g}, got {_shown(got)}: give a value {word} {ctx[key]:g}"
    if t == "finite_number":
        return f"must be a finite number, got {_shown(got)}: give a finite value"
    if t in ("int_type", "int_from_float", "int_parsing"):
        return f"must be a whole number, got {_shown(got)}: write it without a decimal point or quotes"
    if t in ("float_type", "float_parsing"):
        return f"must be a number, got {_shown(got)}: write a number without quotes"
    if t == "bool_type":
        return f"must be true or false, got {_shown(got)}"
    if t == "string_type":
        return f"must be text in quotes, got {_shown(got)}"
    if t == "too_short":
        return f"must list at least {ctx.get('min_length')} value(s), got {_shown(got)}: add one"
    if t == "too_long":
        return f"lists {ctx.get('actual_length')} values, at most {ctx.get('max_length')} are allowed: list fewer"
    if t == "literal_error":
        return f"must be one of {ctx.get('expected')}, got {_shown(got)}"
    if t in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a table ([section] or {{ key = value }}), got {_shown(got)}"
    if t == "list_type":
        return f"must be a list [a, b, ...], got {_shown(got)}"
    if t == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return f"{err['msg']} (got {_shown(got)})"


def format_validation_error(path: Path, model: type[BaseModel], exc: ValidationError) -> str:
    """One line per problem; unknown keys first (a misspelt key is also the cause of its 'missing field')."""
    lines = []
    errors = sorted(exc.errors(), key=lambda e: {"extra_forbidden": 0, "missing": 2}.get(e["type"], 1))
    for err in errors:
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
            lines.append(f"{path}: field '{key}': {describe_error(err)}")
    return "\n".join(lines)


def spec_error(path: Path, lines: list[str]) -> SpecError:
    """One SpecError for a file's problems: the first on one line (the CLI prints one line), every one in
    `.problems` (what `infersim specs check` lists)."""
    more = f" (and {len(lines) - 1} more: `infersim specs check {path}` lists them all)" if len(lines) > 1 else ""
    exc = SpecError(lines[0] + more)
    exc.problems = list(lines)
    return exc


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
        raise spec_error(path, format_validation_error(path, model, exc).splitlines()) from None
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

    text = read_text(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SpecError(f"{path}: objects or arrays nested too deeply to be a config.json") from None
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
