"""Read and write settings.json: never crash on a bad file, never leave half a file.

A damaged file is moved aside as `settings.json.bad` (so nothing is lost and
the next save does not overwrite it) and the defaults are used. A single bad
value falls back to its default. Either way `Settings.warnings` says what
happened, in words, for the UI to show once.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from lmdesk.core.paths import settings_path
from lmdesk.core.settings.migrations import SCHEMA_VERSION, migrate
from lmdesk.core.settings.schema import ModelLoadSettings, Settings
from lmdesk.core.settings.validation import Validated, check_value, field_types

T = TypeVar("T", bound=Validated)


def to_json_dict(section: Any) -> dict[str, Any]:
    """A settings section as plain JSON data (tuples become lists)."""
    out: dict[str, Any] = {}
    for f in fields(section):
        if "description" not in f.metadata:
            continue
        value = getattr(section, f.name)
        if is_dataclass(value):
            value = to_json_dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {k: to_json_dict(v) if is_dataclass(v) else v for k, v in value.items()}
        out[f.name] = value
    return out


def _section(owner: type[T], data: dict[str, Any], warnings: list[str], prefix: str) -> T:
    """Build `owner` from `data`, replacing each unusable value by its default (with a warning)."""
    values: dict[str, Any] = {}
    for f in fields(cast(Any, owner)):
        if "description" not in f.metadata or f.name not in data:
            continue
        value = data[f.name]
        kind = field_types(owner)[f.name]
        if isinstance(kind, type) and issubclass(kind, Validated):
            if not isinstance(value, dict):
                warnings.append(f"{prefix}{f.name} is not a section; using the defaults")
                continue
            value = _section(kind, value, warnings, f"{prefix}{f.name}.")
        elif f.name == "models" and isinstance(value, dict):
            value = _remembered_models(value, warnings)
        elif isinstance(value, list):
            value = tuple(value)
        problem = check_value(owner, f.name, value)
        if problem:
            warnings.append(f"{prefix}{problem}; using the default")
            continue
        values[f.name] = value
    return owner(**values)


def _remembered_models(data: dict[str, Any], warnings: list[str]) -> dict[str, ModelLoadSettings]:
    models = {}
    for path, entry in data.items():
        if isinstance(entry, dict):
            models[path] = _section(ModelLoadSettings, entry, warnings, f"models[{path!r}].")
        else:
            warnings.append(f"remembered settings for {path} are unreadable; forgotten")
    return models


def _move_aside(path: Path) -> Path:
    bad = path.with_name(path.name + ".bad")
    os.replace(path, bad)
    return bad


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults; never raises."""
    path = settings_path() if path is None else path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as error:
        return Settings(warnings=(f"could not read {path} ({error}); using the defaults",))
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        data, notes = migrate(data)
        warnings = list(notes)
        known = {f.name for f in fields(Settings)}
        extra = {k: v for k, v in data.items() if k not in known and k != "version"}
        settings = _section(Settings, data, warnings, "")
    except Exception as error:  # damaged or nonsense layout: settings must never stop lmdesk
        try:
            where = f"it was kept as {_move_aside(path).name}"
        except OSError:
            where = "it could not be moved aside"
        return Settings(
            warnings=(f"{path.name} was damaged ({error}); {where}; using the defaults",)
        )
    return replace(settings, extra=extra, warnings=tuple(warnings))


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` atomically (temporary file, then rename); raises OSError on failure."""
    path = settings_path() if path is None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**settings.extra, "version": SCHEMA_VERSION, **to_json_dict(settings)}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path
