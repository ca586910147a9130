"""Turning database rows into the model objects, and JSON columns back and forth."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from lmdesk.core.chats.models import (
    Conversation,
    Message,
    MessageStats,
    is_message_state,
    is_role,
)

CONVERSATION_FIELDS = (
    "id",
    "title",
    "created_at",
    "updated_at",
    "system_prompt",
    "model_path",
    "sampling_json",
)
MESSAGE_FIELDS = (
    "id",
    "conversation_id",
    "position",
    "role",
    "content",
    "created_at",
    "state",
    "stats_json",
    "reasoning",
)
"""The columns a conversation and a message are read from (and copied, moved aside, rebuilt)."""
CONVERSATION_COLUMNS = ", ".join(CONVERSATION_FIELDS)
MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS)


def conversation(row: sqlite3.Row) -> Conversation:
    sampling = _load(row["sampling_json"])
    return Conversation(
        id=int(row["id"]),
        title=str(row["title"]),
        created_at=float(row["created_at"]),
        updated_at=float(row["updated_at"]),
        system_prompt=str(row["system_prompt"]),
        model_path=row["model_path"],
        sampling=sampling if isinstance(sampling, dict) else None,
    )


def message(row: sqlite3.Row) -> Message:
    role, state = row["role"], row["state"]
    # The schema's CHECK constraints make these hold; the guards tell mypy.
    if not is_role(role) or not is_message_state(state):
        raise ValueError(f"message {row['id']}: bad role {role!r} or state {state!r}")
    stats = _load(row["stats_json"])
    return Message(
        id=int(row["id"]),
        conversation_id=int(row["conversation_id"]),
        role=role,
        content=str(row["content"]),
        created_at=float(row["created_at"]),
        state=state,
        stats=MessageStats.from_dict(stats) if isinstance(stats, dict) else None,
        position=int(row["position"]),
        reasoning=str(row["reasoning"] or ""),
    )


def dump_json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def dump_stats(stats: MessageStats | None) -> str | None:
    return None if stats is None else dump_json(stats.to_dict())


def _load(text: str | None) -> object:
    """Decode a JSON column; a damaged value reads as missing rather than failing."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
