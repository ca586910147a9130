"""Thinking split from the answer: ``<think>…</think>`` (and similar) at the start of a reply
goes to ``reasoning_content``; the rest is the answer. Works on streamed pieces: a tag cut
over two pieces is held back until it is whole."""

from __future__ import annotations

OPEN_TAGS = ("<think>", "<thinking>", "<reasoning>")


def _close_tag(open_tag: str) -> str:
    return "</" + open_tag[1:]


class ReasoningSplitter:
    """`feed(text)` -> (reasoning, content) released now; `finish()` -> the rest."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._buffer = ""
        self._state = "start" if enabled else "answer"  # start -> (thinking ->) answer
        self._close = ""
        self.reasoning = ""
        self.content = ""

    def feed(self, text: str) -> tuple[str, str]:
        self._buffer += text
        reasoning, content = self._step()
        self.reasoning += reasoning
        self.content += content
        return reasoning, content

    def finish(self) -> tuple[str, str]:
        rest, self._buffer = self._buffer, ""
        if self._state == "thinking":
            self.reasoning += rest
            return rest, ""
        self.content += rest
        return "", rest

    def _step(self) -> tuple[str, str]:
        reasoning = content = ""
        if self._state == "start":
            stripped = self._buffer.lstrip()
            for tag in OPEN_TAGS:
                if stripped.startswith(tag):
                    self._state, self._close = "thinking", _close_tag(tag)
                    self._buffer = stripped[len(tag) :]
                    break
                if tag.startswith(stripped) and stripped:
                    return "", ""  # may still become a tag
            else:
                self._state = "answer"
        if self._state == "thinking":
            end = self._buffer.find(self._close)
            if end < 0:
                keep = _partial_suffix(self._buffer, self._close)
                reasoning = self._buffer[: len(self._buffer) - keep]
                self._buffer = self._buffer[len(self._buffer) - keep :]
                return reasoning, ""
            reasoning = self._buffer[:end]
            self._buffer = self._buffer[end + len(self._close) :].lstrip()
            self._state = "answer"
        if self._state == "answer":
            content, self._buffer = self._buffer, ""
        return reasoning, content


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of ``text`` that starts ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole reply."""
    splitter = ReasoningSplitter()
    r1, c1 = splitter.feed(text)
    r2, c2 = splitter.finish()
    return r1 + r2, c1 + c2
