"""What can go wrong with the chat store, named so the UI can say it plainly."""

from __future__ import annotations

from pathlib import Path


class ChatStoreError(Exception):
    """Base class for every chat-store failure."""


class ChatDatabaseUnreadableError(ChatStoreError):
    """The file exists but is not a chats database SQLite can read."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot read the chats database {path}: {reason}")
        self.path = path


class ChatWriteError(ChatStoreError):
    """SQLite refused a write; ``str()`` names the file and says why, for a person."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot save to the chats database {path}: {reason}")
        self.path = path


class ChatDiskFullError(ChatWriteError):
    """The disk (or the database's size limit) is full; the write can be retried later."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "the disk is full. Free some space; lmdesk will save again")


class ChatDatabaseReadOnlyError(ChatWriteError):
    """The file (or its folder) cannot be written."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "the file is read-only. Allow writing to it, or move it away")


class ChatDatabaseDamagedError(ChatStoreError):
    """``PRAGMA quick_check`` found damage; `recover_database` can keep a copy and rebuild."""

    def __init__(self, path: Path, problems: str) -> None:
        super().__init__(f"the chats database {path} is damaged ({problems})")
        self.path = path
        self.problems = problems


class SchemaTooNewError(ChatStoreError):
    """The database was written by a newer lmdesk; opening it could lose data."""

    def __init__(self, path: Path, *, found: int, supported: int) -> None:
        super().__init__(
            f"the chats database {path} was written by a newer version of lmdesk "
            f"(schema version {found}; this version understands up to {supported}). "
            "Update lmdesk to open it; the file has not been changed."
        )
        self.path = path
        self.found = found
        self.supported = supported


class ConversationNotFoundError(ChatStoreError, LookupError):
    def __init__(self, conversation_id: int) -> None:
        super().__init__(f"no conversation with id {conversation_id}")
        self.conversation_id = conversation_id


class MessageNotFoundError(ChatStoreError, LookupError):
    def __init__(self, message_id: int) -> None:
        super().__init__(f"no message with id {message_id}")
        self.message_id = message_id


class ChatImportError(ChatStoreError, ValueError):
    """An exported conversation that cannot be imported (wrong format or version)."""
