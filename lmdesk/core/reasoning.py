"""Thinking split from the answer, while a reply streams: the one owner of reasoning formats.

Reasoning models write their thoughts before the answer, marked in one of a few ways:

- tags around the thinking at the start of the reply: ``<think>…</think>`` (DeepSeek-R1,
  Qwen3, QwQ, SmolLM3), ``<thinking>``, ``<reasoning>``, ``<seed:think>`` (Seed-OSS),
  ``[THINK]…[/THINK]`` (Magistral), ``<|START_THINKING|>…<|END_THINKING|>`` (Command R7B),
  ``◁think▷…◁/think▷`` (Kimi);
- gpt-oss's channels (the "harmony" format): ``<|channel|>analysis<|message|>…<|end|>``
  then ``<|start|>assistant<|channel|>final<|message|>…``. llama.cpp always renders
  ``<|channel|>``, ``<|message|>`` and ``<|start|>``; ``<|end|>`` is a control token and
  may be missing from the text, so ``<|start|>`` ends the analysis too.

The format is recognised from the first characters of the reply; when the chat template's
generation prompt already opened the block (DeepSeek-R1 ends it with ``<think>\\n``),
`opened_in_prompt` finds the open tag, and the engine puts it in front of the reply's text,
so every reader of the stream (the chat, the API server's ``reasoning_content``) sees a
self-describing reply. A marker split over chunks at any position is held back until it
is whole, so the split never depends on how the text was cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TAG_PAIRS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
    ("<seed:think>", "</seed:think>"),
    ("[THINK]", "[/THINK]"),
    ("<|START_THINKING|>", "<|END_THINKING|>"),
    ("◁think▷", "◁/think▷"),
)
"""Open and close tags of the tag formats, as the model writes them."""

CHANNEL = "<|channel|>"
MESSAGE = "<|message|>"
START = "<|start|>"
END_MARKERS = ("<|end|>", "<|return|>", "<|call|>")
CHANNEL_OPENERS = (CHANNEL, START)
"""How a gpt-oss reply (or its next message) begins."""

Mode = Literal["start", "think", "header", "analysis", "final", "answer"]
_THINKING_MODES = frozenset({"think", "header", "analysis"})


@dataclass(frozen=True)
class ThinkingSwitches:
    """What a chat template lets a person change about thinking."""

    enable_thinking: bool = False
    """The template reads ``enable_thinking`` (Qwen3, SmolLM3, GLM): thinking on or off."""
    reasoning_effort: bool = False
    """The template reads ``reasoning_effort`` (gpt-oss): low, medium or high."""

    @property
    def any(self) -> bool:
        return self.enable_thinking or self.reasoning_effort


def thinking_switches(template_source: str | None) -> ThinkingSwitches:
    """The thinking switches a Jinja chat template reads (none for no template)."""
    source = template_source or ""
    return ThinkingSwitches(
        enable_thinking="enable_thinking" in source,
        reasoning_effort="reasoning_effort" in source,
    )


def opened_in_prompt(prompt: str) -> str:
    """The open tag the prompt ends inside (its generation prompt opened the thinking), or ''.

    Qwen3 with thinking off writes ``<think>\\n\\n</think>`` into the prompt: that block is
    closed, so the reply starts with the answer.
    """
    tail = prompt.rstrip()
    for open_tag, _close in TAG_PAIRS:
        if tail.endswith(open_tag):
            return open_tag
    return ""


CONTINUE_TAG = TAG_PAIRS[0][0]
"""The tag a continued reply's thinking is put back in (the reply does not keep its own)."""
CHANNELS_PROMPT_END = START + "assistant"
"""How a gpt-oss (harmony) generation prompt ends: the reply's channels follow."""
ANALYSIS_HEADER = f"{CHANNEL}analysis{MESSAGE}"
FINAL_HEADER = f"{END_MARKERS[0]}{START}assistant{CHANNEL}final{MESSAGE}"


def reply_so_far(prompt: str, content: str, reasoning: str) -> str:
    """A reply's text as the model wrote it, to continue it after ``prompt`` (which ends with
    the generation prompt): its thinking back in the model's own format, then its answer. A
    gpt-oss prompt gets the harmony channels (analysis, then final); other models get tags
    (the open tag left out when the prompt opened it). A reply cut off while thinking ends
    inside the thinking, so the model carries on thinking, then answers."""
    if not reasoning:
        return content
    if prompt.rstrip().endswith(CHANNELS_PROMPT_END):
        text = ANALYSIS_HEADER + reasoning
        return text + FINAL_HEADER + content if content else text
    opened = opened_in_prompt(prompt)
    open_tag = opened or CONTINUE_TAG
    text = ("" if opened else open_tag) + reasoning
    if content:
        text += dict(TAG_PAIRS)[open_tag] + "\n\n" + content
    return text


class ReasoningSplitter:
    """Feed streamed text; get back ``(reasoning, answer)`` text that is safe to show now.

    ``reasoning`` and ``content`` hold everything released so far; `finish` releases what
    was held back (a partial marker that never completed). The API matches what the API
    server used before this module existed (``feed``, ``finish``, ``reasoning``,
    ``content``).
    """

    def __init__(self, *, answer_only: bool = False, inside: str = "") -> None:
        """``answer_only``: the text continues an answer (Continue), so nothing is thinking.
        ``inside``: the open tag of a thinking block the text continues (Continue of a reply
        cut off while thinking): thinking until its close tag, then the answer. The stored
        reply does not say which format its thinking had, so a gpt-oss channel marker ends
        that thinking too (the model closes its analysis channel, then writes the final one)."""
        close = dict(TAG_PAIRS).get(inside, "")
        if inside and not close:
            raise ValueError(f"{inside!r} is not a thinking tag")
        self._buffer = ""
        self._mode: Mode = "think" if close else "answer" if answer_only else "start"
        self._close = close
        self._continued = bool(close)
        self._strip_answer = False
        self.reasoning = ""
        self.content = ""
        self.format = "tags" if close else ""
        """"tags" or "channels" once recognised; "" for a reply with no thinking (so far)."""

    @property
    def thinking(self) -> bool:
        """Whether the text fed so far ends inside the thinking."""
        return self._mode in _THINKING_MODES

    @property
    def undecided(self) -> bool:
        """Whether the start of the reply may still turn out to be a marker."""
        return self._mode == "start"

    def feed(self, text: str) -> tuple[str, str]:
        self._buffer += text
        reasoning, content = self._step(final=False)
        self.reasoning += reasoning
        self.content += content
        return reasoning, content

    def finish(self) -> tuple[str, str]:
        reasoning, content = self._step(final=True)
        rest, self._buffer = self._buffer, ""
        if self._mode in _THINKING_MODES and self._mode != "header":
            reasoning += rest
        elif self._mode != "header":
            content += rest
        self.reasoning += reasoning
        self.content += content
        return reasoning, content

    # -- the state machine --------------------------------------------------------------------
    def _step(self, *, final: bool) -> tuple[str, str]:
        reasoning: list[str] = []
        content: list[str] = []
        while True:
            before = (self._mode, len(self._buffer))
            if self._mode == "start":
                self._start(final)
            elif self._mode == "think":
                reasoning.append(self._think(final))
            elif self._mode == "header":
                self._header(final)
            elif self._mode == "analysis":
                reasoning.append(self._channel_text(final))
            elif self._mode == "final":
                content.append(self._channel_text(final))
            else:  # answer: everything from here on (the blank lines after thinking dropped)
                if self._strip_answer:
                    self._buffer = self._buffer.lstrip()
                    self._strip_answer = not self._buffer
                content.append(self._buffer)
                self._buffer = ""
            if (self._mode, len(self._buffer)) == before:
                return "".join(reasoning), "".join(content)

    def _start(self, final: bool) -> None:
        stripped = self._buffer.lstrip()
        if not stripped:
            if final:
                self._mode = "answer"
            return
        for open_tag, close_tag in TAG_PAIRS:
            if stripped.startswith(open_tag):
                self._mode, self._close, self.format = "think", close_tag, "tags"
                self._buffer = stripped[len(open_tag) :]
                return
        for opener in CHANNEL_OPENERS:
            if stripped.startswith(opener):
                self._mode, self.format = "header", "channels"
                self._buffer = stripped[len(opener) :]
                return
        markers = [open_tag for open_tag, _ in TAG_PAIRS] + list(CHANNEL_OPENERS)
        if not final and any(marker.startswith(stripped) for marker in markers):
            return  # may still become a marker
        self._mode = "answer"

    def _think(self, final: bool) -> str:
        """Thinking in tags; a continued block (``inside``) may turn out to be gpt-oss's
        analysis channel, which a channel marker shows: the channel rules take over there."""
        if not self._continued:
            return self._until((self._close,), final, after="answer")
        channel_ends = (*END_MARKERS, START, CHANNEL)
        hit = _first(self._buffer, channel_ends)
        close = self._buffer.find(self._close)
        if hit is not None and (close < 0 or hit[0] < close):
            out = self._buffer[: hit[0]]
            self._buffer = self._buffer[hit[0] :]
            self._mode, self.format = "analysis", "channels"
            return out
        return self._until((self._close, *channel_ends), final, after="answer")

    def _until(self, markers: tuple[str, ...], final: bool, *, after: Mode) -> str:
        """Release text up to the first of ``markers``; at a marker, drop it, go to ``after``."""
        hit = _first(self._buffer, markers)
        if hit is None:
            keep = 0 if final else max(_partial_suffix(self._buffer, m) for m in markers)
            out = self._buffer[: len(self._buffer) - keep]
            self._buffer = self._buffer[len(self._buffer) - keep :]
            return out
        index, marker = hit
        out = self._buffer[:index]
        self._buffer = self._buffer[index + len(marker) :]
        self._mode = after
        self._strip_answer = True
        return out

    def _header(self, final: bool) -> None:
        """``assistant<|channel|>analysis<|message|>``: which channel the next text is in."""
        index = self._buffer.find(MESSAGE)
        if index < 0:
            if final:
                self._buffer = ""
            return
        header = self._buffer[:index]
        self._buffer = self._buffer[index + len(MESSAGE) :]
        channel = header.rsplit(CHANNEL, 1)[-1] if CHANNEL in header else header
        self._mode = "analysis" if channel.strip().startswith("analysis") else "final"

    def _channel_text(self, final: bool) -> str:
        ends = (*END_MARKERS, START, CHANNEL)
        hit = _first(self._buffer, ends)
        if hit is None:
            keep = 0 if final else max(_partial_suffix(self._buffer, m) for m in ends)
            out = self._buffer[: len(self._buffer) - keep]
            self._buffer = self._buffer[len(self._buffer) - keep :]
            return out
        index, marker = hit
        out = self._buffer[:index]
        rest = self._buffer[index + len(marker) :]
        if marker in (START, CHANNEL):
            self._mode, self._buffer = "header", rest
        else:  # <|end|>: the next message starts with <|start|>, which the channel's own
            self._buffer = rest  # search finds; stray text stays in this channel, not lost
        return out


def _first(text: str, markers: tuple[str, ...]) -> tuple[int, str] | None:
    hits = [(i, m) for m in markers if (i := text.find(m)) >= 0]
    return min(hits) if hits else None


def _partial_suffix(text: str, marker: str) -> int:
    """Length of the longest end of ``text`` that begins ``marker`` (0 if none)."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0


def split_reasoning(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole reply."""
    splitter = ReasoningSplitter()
    r1, c1 = splitter.feed(text)
    r2, c2 = splitter.finish()
    return r1 + r2, c1 + c2
