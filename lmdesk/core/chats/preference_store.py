"""Named presets and per-model chat preferences, in the chats database beside the chats.

A preset is a system prompt plus sampling (`SamplingSettings`' stored JSON); applying it
to a chat copies both into the conversation. Per model file, a person may keep their own
Jinja chat template (an override of the file's) and a default preset for new chats.
``PreferenceStore`` is a mixin of ``ChatStore`` (which provides the database).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lmdesk.core.chats import database as db
from lmdesk.core.chats.errors import ChatStoreError


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    system_prompt: str
    sampling: dict[str, Any]
    """`SamplingSettings.to_stored()` JSON."""


@dataclass(frozen=True, slots=True)
class ModelPreferences:
    model_path: str
    chat_template: str | None = None
    """The person's own Jinja template for this model (None: the file's own)."""
    preset: str | None = None
    """The preset new chats with this model start from (None: the model's defaults)."""


class PresetNotFoundError(ChatStoreError):
    def __init__(self, name: str) -> None:
        super().__init__(f"there is no preset called {name!r}")
        self.name = name


class PreferenceStore:
    _db: db.ChatDatabase
    _now: Callable[[], float]

    # -- presets --------------------------------------------------------------------------------
    def presets(self) -> list[Preset]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT name, system_prompt, sampling_json FROM presets"
                " ORDER BY name COLLATE NOCASE"
            ).fetchall()
        return [_preset(row) for row in rows]

    def preset(self, name: str) -> Preset:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT name, system_prompt, sampling_json FROM presets WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise PresetNotFoundError(name)
        return _preset(row)

    def save_preset(self, name: str, *, system_prompt: str, sampling: Mapping[str, Any]) -> Preset:
        """Create or replace the preset ``name`` (a name is needed: blank ones are refused)."""
        name = name.strip()
        if not name:
            raise ValueError("a preset needs a name")
        text = json.dumps(dict(sampling), ensure_ascii=False, sort_keys=True)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO presets (name, system_prompt, sampling_json, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                " system_prompt = excluded.system_prompt, sampling_json = excluded.sampling_json,"
                " updated_at = excluded.updated_at",
                (name, system_prompt, text, self._now()),
            )
        return Preset(name, system_prompt, dict(sampling))

    def delete_preset(self, name: str) -> bool:
        with self._db.write() as conn:
            conn.execute("UPDATE model_preferences SET preset = NULL WHERE preset = ?", (name,))
            return conn.execute("DELETE FROM presets WHERE name = ?", (name,)).rowcount > 0

    # -- per model ------------------------------------------------------------------------------
    def model_preferences(self, model_path: str) -> ModelPreferences:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT chat_template, preset FROM model_preferences WHERE model_path = ?",
                (model_path,),
            ).fetchone()
        if row is None:
            return ModelPreferences(model_path)
        return ModelPreferences(model_path, row["chat_template"], row["preset"])

    def set_model_template(self, model_path: str, source: str | None) -> ModelPreferences:
        """Keep ``source`` as this model's own chat template (None: back to the file's)."""
        return self._set_model(model_path, "chat_template", source)

    def set_model_preset(self, model_path: str, preset: str | None) -> ModelPreferences:
        """New chats with this model start from ``preset`` (None: the model's defaults)."""
        if preset is not None:
            self.preset(preset)  # raises PresetNotFoundError
        return self._set_model(model_path, "preset", preset)

    def _set_model(self, model_path: str, column: str, value: str | None) -> ModelPreferences:
        assert column in ("chat_template", "preset")
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO model_preferences (model_path) VALUES (?)"
                " ON CONFLICT(model_path) DO NOTHING",
                (model_path,),
            )
            conn.execute(
                f"UPDATE model_preferences SET {column} = ? WHERE model_path = ?",
                (value, model_path),
            )
        return self.model_preferences(model_path)


def _preset(row: Any) -> Preset:
    try:
        sampling = json.loads(row["sampling_json"])
    except ValueError:
        sampling = {}
    return Preset(
        str(row["name"]),
        str(row["system_prompt"]),
        sampling if isinstance(sampling, dict) else {},
    )
