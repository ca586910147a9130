"""A message's text as a column of prose blocks and code panels, updated in place.

While a reply streams only its last block changes; `set_text` re-splits the
text (cheap string work) and touches only the blocks whose text changed.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from lmdesk.ui.pages.chat.markdown_split import Segment, split_markdown
from lmdesk.ui.pages.chat.rich_text import AutoHeightText, CodeBlock

CURSOR = "▌"


class MessageBody(QWidget):
    copied = Signal(str)
    """Text put on the clipboard by a code block's Copy."""

    def __init__(self, parent: QWidget | None = None, *, markdown: bool = True) -> None:
        super().__init__(parent)
        self._markdown = markdown
        self._text = ""
        self._cursor = False
        self._blocks: list[tuple[str, QWidget]] = []
        self._box = QVBoxLayout(self)
        self._box.setContentsMargins(0, 0, 0, 0)
        self._box.setSpacing(8)

    def text(self) -> str:
        return self._text

    def set_text(self, text: str, *, cursor: bool = False) -> None:
        if text == self._text and cursor == self._cursor and self._blocks:
            return
        self._text, self._cursor = text, cursor
        self._render()

    def append(self, text: str) -> None:
        self._text += text
        self._render()

    def set_cursor(self, cursor: bool) -> None:
        if cursor != self._cursor:
            self._cursor = cursor
            self._render()

    def blocks(self) -> list[QWidget]:
        return [widget for _kind, widget in self._blocks]

    def code_blocks(self) -> list[CodeBlock]:
        return [w for _k, w in self._blocks if isinstance(w, CodeBlock)]

    def prose_width(self, max_width: int) -> int:
        """How wide the text wants to be, for a bubble that hugs short messages."""
        widths = [
            w.ideal_width(max_width) if isinstance(w, AutoHeightText) else max_width
            for _k, w in self._blocks
        ]
        return max(widths, default=0)

    def _segments(self) -> list[Segment]:
        if not self._markdown:
            return [Segment("text", self._text + (f" {CURSOR}" if self._cursor else ""))]
        segments = split_markdown(self._text)
        if self._cursor:
            if segments and segments[-1].kind == "code" and not self._text.endswith("```"):
                last = segments[-1]
                segments[-1] = Segment("code", last.text + CURSOR, last.language)
            else:
                tail = segments[-1] if segments and segments[-1].kind == "text" else None
                if tail is None:
                    segments.append(Segment("text", CURSOR))
                else:
                    segments[-1] = Segment("text", f"{tail.text} {CURSOR}")
        return segments or [Segment("text", "")]

    def _render(self) -> None:
        segments = self._segments()
        for index, segment in enumerate(segments):
            if index < len(self._blocks) and self._blocks[index][0] != segment.kind:
                self._drop_from(index)
            if index >= len(self._blocks):
                self._blocks.append((segment.kind, self._new_block(segment.kind)))
                self._box.addWidget(self._blocks[-1][1])
            widget = self._blocks[index][1]
            if isinstance(widget, CodeBlock):
                widget.set_code(segment.text, segment.language)
            elif isinstance(widget, AutoHeightText):
                widget.set_source_text(segment.text)
        self._drop_from(len(segments))

    def _new_block(self, kind: str) -> QWidget:
        if kind == "code":
            block = CodeBlock()
            block.copied.connect(self.copied)
            return block
        return AutoHeightText(markdown=self._markdown)

    def _drop_from(self, index: int) -> None:
        for _kind, widget in self._blocks[index:]:
            self._box.removeWidget(widget)
            widget.deleteLater()
        del self._blocks[index:]
