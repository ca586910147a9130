"""Case-insensitive substring search over titles and messages, for every language.

SQLite's ``LIKE`` folds case for ASCII letters only ("über" would not find
"Über"), so the store registers ``contains_folded`` as an SQL function and
compares with Python's ``str.casefold``. A chats database holds at most a few
megabytes of text; scanning it is fast enough for search-as-you-type, and
FTS5 (not compiled into every Python's SQLite) is not needed for substrings.
"""

from __future__ import annotations

import sqlite3

SQL_FUNCTION = "lmdesk_contains"
SNIPPET_CONTEXT = 40

#: Matching conversations, newest activity first, with their first matching
#: message (``hit_message_id``, ``hit_content``; NULL when only the title matched).
QUERY = f"""
    WITH hits AS (
        SELECT c.id AS conversation_id,
            {SQL_FUNCTION}(c.title, :q) AS in_title,
            (SELECT m.id FROM messages m
             WHERE m.conversation_id = c.id AND {SQL_FUNCTION}(m.content, :q)
             ORDER BY m.position LIMIT 1) AS message_id
        FROM conversations c
    )
    SELECT c.id, c.title, c.created_at, c.updated_at, c.system_prompt, c.model_path,
        c.sampling_json, m.id AS hit_message_id, m.content AS hit_content
    FROM hits
    JOIN conversations c ON c.id = hits.conversation_id
    LEFT JOIN messages m ON m.id = hits.message_id
    WHERE hits.in_title OR hits.message_id IS NOT NULL
    ORDER BY c.updated_at DESC, c.id DESC
"""


def contains_folded(haystack: str | None, folded_needle: str) -> int:
    """1 if ``folded_needle`` (already casefolded) occurs in ``haystack``, else 0."""
    if haystack is None:
        return 0
    return 1 if folded_needle in haystack.casefold() else 0


def register(conn: sqlite3.Connection) -> None:
    conn.create_function(SQL_FUNCTION, 2, contains_folded, deterministic=True)


def snippet(text: str, folded_needle: str, *, context: int = SNIPPET_CONTEXT) -> str:
    """A one-line excerpt of ``text`` around the first match, for a results list."""
    index = text.casefold().find(folded_needle)
    # casefold can change lengths ("ß" -> "ss"); the index is then approximate.
    index = max(0, min(index, len(text)))
    start = max(0, index - context)
    end = min(len(text), index + len(folded_needle) + context)
    excerpt = " ".join(text[start:end].split())
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(text) else "")
