"""Checking settings values against their declared types and bounds.

Each settings section is a frozen dataclass whose fields carry `meta(...)`:
a description and optional bounds or a custom check. `Validated` checks
every such field whenever the dataclass is built, which includes
`dataclasses.replace`, so no invalid settings object can exist.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal, Union, cast, get_args, get_origin, get_type_hints

Number = int | float


def meta(
    description: str,
    *,
    min: Number | None = None,
    max: Number | None = None,
    check: Callable[[Any], str | None] | None = None,
) -> dict[str, Any]:
    """A setting's metadata: what `check_value` enforces and the settings dialog shows."""
    return {"description": description, "min": min, "max": max, "check": check}


@dataclass(frozen=True)
class SettingInfo:
    name: str
    description: str
    default: Any
    minimum: Number | None
    maximum: Number | None


def _type_ok(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is Literal:
        return any(value == arg and type(value) is type(arg) for arg in get_args(tp))
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in get_args(tp))
    if origin is tuple:
        return isinstance(value, tuple) and all(_type_ok(v, get_args(tp)[0]) for v in value)
    if origin is dict:
        key_tp, value_tp = get_args(tp)
        return isinstance(value, dict) and all(
            _type_ok(k, key_tp) and _type_ok(v, value_tp) for k, v in value.items()
        )
    if tp is type(None):
        return value is None
    if tp is float:
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is Any:
        return True
    return isinstance(value, tp)


def _type_words(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(arg) for arg in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_words(arg) for arg in get_args(tp))
    if origin is tuple:
        return f"a list of {_type_words(get_args(tp)[0])}"
    if origin is dict:
        return "a mapping"
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


_FIELD_TYPES: dict[type[Any], dict[str, Any]] = {}


def field_types(owner: type[Any]) -> dict[str, Any]:
    """The evaluated annotations of a settings section (cached: they never change)."""
    if owner not in _FIELD_TYPES:
        _FIELD_TYPES[owner] = get_type_hints(owner)
    return _FIELD_TYPES[owner]


def check_value(owner: type[Any], name: str, value: Any) -> str | None:
    """Why `value` is not allowed for setting `name` of section `owner`, or None if it is."""
    tp = field_types(owner)[name]
    meta = next(f.metadata for f in fields(owner) if f.name == name)
    if not _type_ok(value, tp):
        return f"{name} must be {_type_words(tp)}, not {value!r}"
    low, high = meta.get("min"), meta.get("max")
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if is_number and ((low is not None and value < low) or (high is not None and value > high)):
        return f"{name} must be between {low} and {high}, not {value!r}"
    custom = meta.get("check")
    problem = custom(value) if custom is not None else None
    return f"{name} {problem}" if problem else None


def setting_info(owner: type[Any], name: str) -> SettingInfo:
    """Description, default and bounds of one setting, for the settings dialog."""
    for f in fields(owner):
        if f.name == name:
            default = f.default
            if default is MISSING and f.default_factory is not MISSING:
                default = f.default_factory()
            return SettingInfo(
                name,
                f.metadata.get("description", ""),
                default,
                f.metadata.get("min"),
                f.metadata.get("max"),
            )
    raise KeyError(f"{owner.__name__} has no setting {name!r}")


class Validated:
    """Checks every field with a description when the dataclass is built or replaced."""

    def __post_init__(self) -> None:
        owner = type(self)
        for f in fields(cast(Any, self)):
            if "description" not in f.metadata:
                continue  # bookkeeping fields such as `warnings`
            value = getattr(self, f.name)
            problem = check_value(owner, f.name, value)
            if problem:
                raise ValueError(problem)
            if field_types(owner)[f.name] is float and isinstance(value, int):
                object.__setattr__(self, f.name, float(value))
