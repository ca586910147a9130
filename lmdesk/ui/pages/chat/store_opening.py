"""Opening the app's chats database whatever state it is in; the chat page works regardless.

A damaged file (`PRAGMA quick_check`) is not touched until the person answers: the page
works on an in-memory store meanwhile and asks "Recover" (keep a copy, rebuild the file
from what can be read: `recover_database`) or "Start empty" (keep the damaged file aside,
begin a new one). A file that cannot be opened at all (a full disk, a read-only folder)
leaves the chats in memory for this session. Either way the person is told, with the
file's name.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lmdesk.core.chats import ChatStore, ChatStoreError, default_database_path
from lmdesk.core.chats.errors import ChatDatabaseDamagedError
from lmdesk.core.chats.recovery import keep_aside, recover_database
from lmdesk.core.counted import counted

IN_MEMORY = Path(":memory:")
OPEN_ERRORS = (ChatStoreError, OSError, sqlite3.Error)


@dataclass(frozen=True)
class OpenedStore:
    """The store to use now, and what to tell the person."""

    store: ChatStore
    problem: str | None = None  # a sentence naming the file, when it is not the file as it was
    damaged: Path | None = None  # a damaged file waiting for "Recover" or "Start empty"


def open_chat_store(path: Path | None = None) -> OpenedStore:
    """The file's store; an in-memory one (and why) when it is damaged or cannot be opened."""
    path = default_database_path() if path is None else path
    try:
        return OpenedStore(ChatStore.open(path))
    except ChatDatabaseDamagedError as exc:
        return OpenedStore(
            ChatStore(IN_MEMORY),
            f"The chats database {path} is damaged ({exc.problems}). Recover keeps a copy of it "
            "and rebuilds it from what can be read; Start empty keeps it aside and begins a new "
            "one. Until then, chats are kept in memory.",
            damaged=path,
        )
    except OPEN_ERRORS as exc:
        return OpenedStore(ChatStore(IN_MEMORY), in_memory_words(path, exc))


def recover_chats(path: Path) -> tuple[ChatStore, str]:
    """ "Recover": keep a copy of the damaged file, rebuild it from its readable rows."""
    recovery = recover_database(path)
    return ChatStore.open(path), (
        f"The chats database {path} was recovered. A copy of the damaged file is kept as "
        f"{recovery.copy}; {counted(recovery.conversations, 'conversation')} and "
        f"{counted(recovery.messages, 'message')} were recovered."
    )


def start_empty(path: Path) -> tuple[ChatStore, str]:
    """ "Start empty": keep the damaged file aside and begin a new database in its place."""
    copy = keep_aside(path)
    return ChatStore.open(path), f"The damaged chats database is kept as {copy}; {path} is new."


def in_memory_words(path: Path, exc: BaseException) -> str:
    """The file cannot be used: say so, naming it, and that chats stay in memory."""
    reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    return f"Chats cannot be saved ({reason}). This session's chats are kept in memory only."
