"""Conversations as Markdown (to read or share) and JSON (to back up and import).

The JSON form carries everything needed to recreate a conversation in
another lmdesk, except database ids, which the importing database assigns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lmdesk.core.chats.errors import ChatImportError
from lmdesk.core.chats.models import (
    Conversation,
    Message,
    MessageState,
    MessageStats,
    Role,
    is_message_state,
    is_role,
)

JSON_FORMAT = "lmdesk.conversation"
JSON_VERSION = 1

_ROLE_HEADINGS = {"system": "System", "user": "User", "assistant": "Assistant"}


@dataclass(frozen=True, slots=True)
class ImportedMessage:
    role: Role
    content: str
    created_at: float
    state: MessageState
    stats: MessageStats | None
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class ImportedConversation:
    title: str
    created_at: float
    updated_at: float
    system_prompt: str
    model_path: str | None
    sampling: dict[str, Any] | None
    messages: tuple[ImportedMessage, ...]


def to_markdown(conversation: Conversation, messages: Sequence[Message]) -> str:
    lines = [f"# {conversation.title}", "", f"- Created: {_utc(conversation.created_at)}"]
    if conversation.model_path:
        lines.append(f"- Model: `{conversation.model_path}`")
    lines.append("")
    if conversation.system_prompt:
        lines += ["## System prompt", "", conversation.system_prompt, ""]
    for message in messages:
        lines += [f"## {_ROLE_HEADINGS[message.role]}", ""]
        if message.reasoning:
            thought = "\n".join(f"> {line}" for line in message.reasoning.strip().splitlines())
            lines += ["> **Thinking**", ">", thought, ""]
        lines += [message.content, ""]
        note = _footnote(message)
        if note:
            lines += [f"*{note}*", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def to_json(conversation: Conversation, messages: Sequence[Message]) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "conversation": {
            "title": conversation.title,
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            "system_prompt": conversation.system_prompt,
            "model_path": conversation.model_path,
            "sampling": conversation.sampling,
        },
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "created_at": m.created_at,
                "state": m.state,
                "stats": None if m.stats is None else m.stats.to_dict(),
                "reasoning": m.reasoning,
            }
            for m in messages
        ],
    }


def from_json(data: object) -> ImportedConversation:
    """Validate an exported conversation; raise ChatImportError saying what is wrong."""
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise ChatImportError(f"not an lmdesk conversation export (format {JSON_FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or version > JSON_VERSION:
        raise ChatImportError(
            f"conversation export version {version!r} is newer than this lmdesk "
            f"understands ({JSON_VERSION})"
        )
    try:
        conv = data["conversation"]
        sampling = conv.get("sampling")
        if sampling is not None and not isinstance(sampling, dict):
            raise TypeError("sampling must be an object")
        return ImportedConversation(
            title=str(conv["title"]),
            created_at=float(conv["created_at"]),
            updated_at=float(conv["updated_at"]),
            system_prompt=str(conv.get("system_prompt") or ""),
            model_path=None if conv.get("model_path") is None else str(conv["model_path"]),
            sampling=sampling,
            messages=tuple(_imported_message(m) for m in data["messages"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ChatImportError(f"malformed conversation export: {exc}") from exc


def _imported_message(item: dict[str, Any]) -> ImportedMessage:
    role, state = item["role"], item.get("state", "complete")
    if not is_role(role):
        raise ValueError(f"unknown role {role!r}")
    if not is_message_state(state):
        raise ValueError(f"unknown message state {state!r}")
    stats = item.get("stats")
    return ImportedMessage(
        role=role,
        content=str(item["content"]),
        created_at=float(item["created_at"]),
        # A reply exported mid-stream is, in the copy, one that was cut off.
        state="interrupted" if state == "streaming" else state,
        stats=None if stats is None else MessageStats.from_dict(stats),
        reasoning=str(item.get("reasoning") or ""),
    )


def _footnote(message: Message) -> str:
    """The reply's state when it did not end normally, then its stats line."""
    stats = message.stats
    says_why = stats is not None and stats.stop_reason is not None  # "stopped: by you"
    normal_end = message.state == "complete" or (message.state == "stopped" and says_why)
    parts: list[str] = [] if normal_end else [message.state]
    if stats is not None and (summary := stats.summary()):
        parts.append(summary)
    return " · ".join(parts)


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
