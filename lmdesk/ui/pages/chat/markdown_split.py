"""Reply text cut into paragraphs and fenced code blocks, so each code block gets its own Copy.

Pure Python: the message widget renders each prose paragraph with
`QTextDocument.setMarkdown` and each code block as a monospace panel. Cutting
prose at blank lines keeps streaming cheap: only the last paragraph is parsed
and laid out again as text arrives, however long the reply. A paragraph that
starts indented (a list item's second paragraph) stays with the one before;
a numbered item keeps its number on its own ("2. ..." renders as item 2).
While a reply streams, an opened fence that is not closed yet still counts as
code up to the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class Segment:
    kind: Literal["text", "code"]
    text: str
    language: str = ""


def split_markdown(text: str) -> list[Segment]:
    """Prose and code segments in order; prose that is only whitespace is left out."""
    segments: list[Segment] = []
    prose: list[str] = []
    code: list[str] = []
    fence: str | None = None
    language = ""

    def flush_prose() -> None:
        segments.extend(Segment("text", part) for part in paragraphs("\n".join(prose)))
        prose.clear()

    for line in text.split("\n"):
        if fence is None:
            match = _FENCE.match(line)
            if match:
                flush_prose()
                fence = match["fence"]
                language = match["info"].strip().split(" ")[0] if match["info"].strip() else ""
            else:
                prose.append(line)
        elif line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
            segments.append(Segment("code", "\n".join(code), language))
            code.clear()
            fence = None
        else:
            code.append(line)
    if fence is not None:
        segments.append(Segment("code", "\n".join(code), language))
    flush_prose()
    return segments


def paragraphs(prose: str) -> list[str]:
    """``prose`` cut at blank lines; indented paragraphs stay with the one before."""
    out: list[str] = []
    for part in _BLANK_LINES.split(prose):
        if not part.strip():
            continue
        text = part.strip("\n")
        if out and part[:1] in (" ", "\t"):
            out[-1] = f"{out[-1]}\n\n{text}"
        else:
            out.append(text)
    return out
