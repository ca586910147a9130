"""Branches: a conversation keeps every version of itself from any message on.

The conversation shown is always one straight line of messages (the ``messages`` table,
ordered by position), so search, export, recovery and the context count see one chat.
The other versions wait in ``branches``: each row is a *tail* (a message and everything
after it, as they were) that follows the same earlier message (``parent_id``, NULL at the
start). Regenerate moves the reply's tail there before the new reply begins; editing a
user message moves the tail from that message, so nothing that followed is deleted.
‹ 2/3 › switches tails in one transaction: the line's tail goes to ``branches``, the chosen
one comes back with its own ids (so tails nested in it still find their parent). A crash
at any point leaves either the old or the new line, never a mix. "Fork chat from here"
copies the line up to a message into a new conversation.

``BranchStore`` is a mixin of ``ChatStore`` (which provides the database and the clock).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmdesk.core.chats import database as db
from lmdesk.core.chats import rows
from lmdesk.core.chats.attachment_store import copy_attachments
from lmdesk.core.chats.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class Alternatives:
    """Where a message stands among the versions that follow the same earlier message."""

    index: int
    """1-based: ‹ index/count ›."""
    count: int


class BranchStore:
    _db: db.ChatDatabase
    _now: Callable[[], float]

    def branch_from(self, message_id: int) -> int:
        """Move ``message_id`` and every later message to a branch; return how many moved.

        Regenerate calls it on the reply it replaces; editing a user message on that
        message (the edited text is then added as a new message in its place).
        """
        with self._db.write() as conn:
            message = db.fetch_message(conn, message_id)
            moved = _archive_tail(conn, message.conversation_id, message.position, self._now())
            db.touch(conn, message.conversation_id, self._now())
            return moved

    def alternatives(self, conversation_id: int) -> dict[int, Alternatives]:
        """For each message of the line that has other versions: where it stands among them."""
        with self._db.read() as conn:
            line = db.fetch_messages(conn, conversation_id)
            rows_ = conn.execute(
                "SELECT parent_id, first_id FROM branches WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchall()
        others: dict[int | None, list[int]] = {}
        for row in rows_:
            others.setdefault(row["parent_id"], []).append(int(row["first_id"]))
        out: dict[int, Alternatives] = {}
        parent: int | None = None
        for message in line:
            firsts = others.get(parent)
            if firsts:
                ordered = sorted([*firsts, message.id])
                out[message.id] = Alternatives(ordered.index(message.id) + 1, len(ordered))
            parent = message.id
        return out

    def switch_alternative(self, message_id: int, step: int) -> Message:
        """Show the version ``step`` places away (-1: the one before) instead of ``message_id``'s;
        return the first message of the version now shown."""
        with self._db.write() as conn:
            message = db.fetch_message(conn, message_id)
            conversation_id = message.conversation_id
            parent = _parent_id(conn, conversation_id, message.position)
            branches = conn.execute(
                "SELECT id, first_id FROM branches WHERE conversation_id = ? AND parent_id IS ?",
                (conversation_id, parent),
            ).fetchall()
            ordered = sorted(
                [(int(r["first_id"]), int(r["id"])) for r in branches] + [(message.id, 0)]
            )
            here = ordered.index((message.id, 0))
            target = ordered[(here + step) % len(ordered)]
            if target[1] == 0:
                return message
            _archive_tail(conn, conversation_id, message.position, self._now())
            _restore(conn, target[1])
            db.touch(conn, conversation_id, self._now())
            return db.fetch_message(conn, target[0])

    def fork_conversation(self, message_id: int, *, title: str | None = None) -> Conversation:
        """A new conversation with this one's settings and its messages up to ``message_id``."""
        now = self._now()
        with self._db.write() as conn:
            message = db.fetch_message(conn, message_id)
            source = db.fetch_conversation(conn, message.conversation_id)
            new_id = db.insert_conversation(
                conn,
                title=title or f"{source.title} (fork)",
                created_at=now,
                updated_at=now,
                system_prompt=source.system_prompt,
                model_path=source.model_path,
                sampling_json=rows.dump_json(source.sampling),
            )
            for m in db.fetch_messages(conn, source.id):
                if m.position > message.position:
                    break
                copy_id = db.insert_message(
                    conn,
                    new_id,
                    role=m.role,
                    content=m.content,
                    created_at=m.created_at,
                    state="interrupted" if m.state == "streaming" else m.state,
                    stats_json=rows.dump_stats(m.stats),
                    reasoning=m.reasoning,
                )
                copy_attachments(conn, m.id, new_id, copy_id)
            return db.fetch_conversation(conn, new_id)


def _parent_id(conn: sqlite3.Connection, conversation_id: int, position: int) -> int | None:
    row = conn.execute(
        "SELECT id FROM messages WHERE conversation_id = ? AND position < ?"
        " ORDER BY position DESC LIMIT 1",
        (conversation_id, position),
    ).fetchone()
    return None if row is None else int(row["id"])


def _archive_tail(conn: sqlite3.Connection, conversation_id: int, position: int, now: float) -> int:
    names = ", ".join(rows.MESSAGE_FIELDS)
    tail = conn.execute(
        f"SELECT {names} FROM messages WHERE conversation_id = ? AND position >= ?"
        " ORDER BY position",
        (conversation_id, position),
    ).fetchall()
    if not tail:
        return 0
    saved: list[dict[str, Any]] = [
        {name: row[name] for name in rows.MESSAGE_FIELDS} for row in tail
    ]
    conn.execute(
        "INSERT INTO branches (conversation_id, parent_id, first_id, messages_json, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            conversation_id,
            _parent_id(conn, conversation_id, position),
            saved[0]["id"],
            json.dumps(saved, ensure_ascii=False),
            now,
        ),
    )
    conn.execute(
        "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
        (conversation_id, position),
    )
    return len(saved)


def _restore(conn: sqlite3.Connection, branch_id: int) -> None:
    row = conn.execute("SELECT messages_json FROM branches WHERE id = ?", (branch_id,)).fetchone()
    names = ", ".join(rows.MESSAGE_FIELDS)
    marks = ", ".join("?" for _ in rows.MESSAGE_FIELDS)
    for saved in json.loads(row["messages_json"]):
        if saved["state"] == "streaming":  # cut off by a crash before it was moved
            saved["state"] = "interrupted"
        conn.execute(
            f"INSERT INTO messages ({names}) VALUES ({marks})",
            tuple(saved[name] for name in rows.MESSAGE_FIELDS),
        )
    conn.execute("DELETE FROM branches WHERE id = ?", (branch_id,))
