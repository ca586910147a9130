"""Conversations that are never lost: SQLite storage, streamed-reply saving, export.

Qt-free. Open the app's store with ``ChatStore.open()``; tests pass a path.
"""

from lmdesk.core.chats.attachment_store import Attachment
from lmdesk.core.chats.branch_store import Alternatives
from lmdesk.core.chats.errors import (
    ChatDatabaseUnreadableError,
    ChatImportError,
    ChatStoreError,
    ConversationNotFoundError,
    MessageNotFoundError,
    SchemaTooNewError,
)
from lmdesk.core.chats.models import (
    Conversation,
    Message,
    MessageState,
    MessageStats,
    Role,
    SearchHit,
)
from lmdesk.core.chats.preference_store import ModelPreferences, Preset, PresetNotFoundError
from lmdesk.core.chats.reply_writer import ReplyFinishedError, ReplyWriter
from lmdesk.core.chats.store import DEFAULT_TITLE, UNSET, ChatStore, default_database_path

__all__ = [
    "DEFAULT_TITLE",
    "UNSET",
    "Alternatives",
    "Attachment",
    "ChatDatabaseUnreadableError",
    "ChatImportError",
    "ChatStore",
    "ChatStoreError",
    "Conversation",
    "ConversationNotFoundError",
    "Message",
    "MessageNotFoundError",
    "MessageState",
    "MessageStats",
    "ModelPreferences",
    "Preset",
    "PresetNotFoundError",
    "ReplyFinishedError",
    "ReplyWriter",
    "Role",
    "SchemaTooNewError",
    "SearchHit",
    "default_database_path",
]
