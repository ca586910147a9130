"""Images attached to messages, kept in the chats database with their conversation.

An attachment belongs to a conversation (deleted with it) and names its message by id,
with no foreign key to the message: a branch moves messages out of the line and back with
the same ids, and their pictures must stay. A message and its pictures are written in one
transaction (`add_message_with_images`), so a crash never keeps one without the other.
``AttachmentStore`` is a mixin of ``ChatStore``.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lmdesk.core.chats import database as db
from lmdesk.core.chats.models import Message


@dataclass(frozen=True, slots=True)
class Attachment:
    id: int
    conversation_id: int
    message_id: int
    name: str
    data: bytes

    def file_in(self, folder: Path) -> Path:
        """The picture as a file under ``folder``, for the engine (written once): in a folder
        per conversation, which `remove_files` deletes with the conversation."""
        digest = hashlib.sha256(self.data).hexdigest()[:12]
        suffix = Path(self.name).suffix.lower() or ".img"
        path = folder / str(self.conversation_id) / f"{self.id}-{digest}{suffix}"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(self.data)
            partial.replace(path)
        return path


class AttachmentStore:
    _db: db.ChatDatabase
    _now: Callable[[], float]

    def add_message_with_images(
        self, conversation_id: int, content: str, images: Sequence[tuple[str, bytes]]
    ) -> Message:
        """A user message and its pictures (name, bytes), committed together."""
        now = self._now()
        with self._db.write() as conn:
            db.require_conversation(conn, conversation_id)
            message_id = db.insert_message(
                conn,
                conversation_id,
                role="user",
                content=content,
                created_at=now,
                state="complete",
                stats_json=None,
            )
            for position, (name, data) in enumerate(images):
                conn.execute(
                    "INSERT INTO attachments (conversation_id, message_id, position, name, data)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, message_id, position, name, data),
                )
            db.touch(conn, conversation_id, now)
            return db.fetch_message(conn, message_id)

    def attachments(self, conversation_id: int) -> dict[int, list[Attachment]]:
        """The conversation's pictures by message id, in the order they were attached."""
        with self._db.read() as conn:
            found = conn.execute(
                "SELECT id, conversation_id, message_id, name, data FROM attachments"
                " WHERE conversation_id = ?"
                " ORDER BY message_id, position",
                (conversation_id,),
            ).fetchall()
        out: dict[int, list[Attachment]] = {}
        for row in found:
            attachment = Attachment(
                int(row["id"]),
                int(row["conversation_id"]),
                int(row["message_id"]),
                str(row["name"]),
                bytes(row["data"]),
            )
            out.setdefault(attachment.message_id, []).append(attachment)
        return out


def remove_files(folder: Path, conversation_id: int) -> None:
    """Delete the files `Attachment.file_in` wrote for a conversation (it was deleted)."""
    shutil.rmtree(folder / str(conversation_id), ignore_errors=True)


def copy_attachments(
    conn: sqlite3.Connection, old_message_id: int, new_conversation_id: int, new_id: int
) -> None:
    """Give a copied message (a fork) the pictures of the one it copies."""
    conn.execute(
        "INSERT INTO attachments (conversation_id, message_id, position, name, data)"
        " SELECT ?, ?, position, name, data FROM attachments WHERE message_id = ?",
        (new_conversation_id, new_id, old_message_id),
    )
