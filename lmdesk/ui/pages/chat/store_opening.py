"""Opening the app's chats database whatever state it is in; the chat page works regardless.

A damaged file is kept aside and rebuilt from what can be read (`recover_database`);
a file that cannot be opened at all (a full disk, a read-only folder) leaves the
chats in memory for this session. Either way the person is told, with the file's name.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lmdesk.core.chats import ChatStore, ChatStoreError, default_database_path
from lmdesk.core.chats.errors import ChatDatabaseDamagedError
from lmdesk.core.chats.recovery import recover_database

IN_MEMORY = Path(":memory:")


def open_chat_store(path: Path | None = None) -> tuple[ChatStore, str | None]:
    """The store, and a sentence for the person when it is not the file as it was."""
    path = default_database_path() if path is None else path
    try:
        return ChatStore.open(path), None
    except ChatDatabaseDamagedError:
        pass
    except (ChatStoreError, OSError, sqlite3.Error) as exc:
        return _in_memory(path, exc)
    try:
        recovery = recover_database(path)
        store = ChatStore.open(path)
    except (ChatStoreError, OSError, sqlite3.Error) as exc:
        return _in_memory(path, exc)
    return store, (
        f"The chats database {path} was damaged. A copy is kept as {recovery.copy}; "
        f"{recovery.conversations} conversations and {recovery.messages} messages were recovered."
    )


def _in_memory(path: Path, exc: BaseException) -> tuple[ChatStore, str]:
    reason = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
    return ChatStore(IN_MEMORY), (
        f"Chats cannot be saved ({reason}). This session's chats are kept in memory only."
    )
