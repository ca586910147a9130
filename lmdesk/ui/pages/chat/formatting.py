"""Words and numbers the chat shows: model names, conversation dates. No Qt.

A reply's stats line is `MessageStats.summary()`, shared with the Markdown export."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from lmdesk.core.chats import DEFAULT_TITLE, Conversation
from lmdesk.core.remote_engines import is_remote_label
from lmdesk.core.units import format_size

_QUANT = re.compile(r"[.\-_ ](?:I?Q\d\w*|F16|BF16|F32)$", re.IGNORECASE)


def model_display_name(path: str | Path) -> str:
    """ "SmolLM2 135M Instruct" for ``SmolLM2-135M-Instruct.Q4_1.gguf``; a remote server's
    model as it is recorded: "server name / model id"."""
    if is_remote_label(str(path)):
        return str(path)
    stem = Path(path).name
    if stem.lower().endswith(".gguf"):
        stem = stem[: -len(".gguf")]
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", stem)  # split models' part suffix
    stem = _QUANT.sub("", stem)
    return stem.replace("-", " ").replace("_", " ").strip() or Path(path).name


def quantization_from_description(description: str) -> str:
    """llama.cpp's "llama 256M Q4_1" ends with the weight type."""
    words = description.split()
    return words[-1] if words else ""


def model_line(
    path: str | Path,
    *,
    description: str,
    size_bytes: int,
    gpu_layers: int,
    layer_slots: int,
    gpu_offload: bool,
) -> str:
    """The model picker's text: "SmolLM2 135M Instruct · Q4_1 · 94 MiB ● loaded · CPU only"."""
    parts = [model_display_name(path)]
    quant = quantization_from_description(description)
    if quant:
        parts.append(quant)
    parts.append(format_size(size_bytes))
    where = f"{gpu_layers}/{layer_slots} layers on GPU" if gpu_offload else "CPU only"
    return " · ".join(parts) + f" ● loaded · {where}"


def conversation_subtitle(conversation: Conversation, *, now: float | None = None) -> str:
    """ "today · SmolLM2 135M Instruct", "yesterday", "12 Mar"."""
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(conversation.updated_at)
    today = datetime.fromtimestamp(now).date()
    days = (today - when.date()).days
    if days <= 0:
        day = "today"
    elif days == 1:
        day = "yesterday"
    elif days < 7:
        day = when.strftime("%A")
    else:
        day = f"{when.day} {when.strftime('%b')}"
    if conversation.model_path:
        return f"{day} · {model_display_name(conversation.model_path)}"
    return day


def title_from_message(text: str, *, limit: int = 48) -> str:
    """A conversation title from its first message: the first line, shortened."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    if len(line) <= limit:
        return line or DEFAULT_TITLE
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:") + "…"
