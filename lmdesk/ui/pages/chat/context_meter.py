"""How much of the model's context the next prompt takes, for the composer's gauge.

Exact counts come from the engine (tokenizing needs the model, so it runs on
the inference worker), debounced while the person types. The worker is busy
while it writes a reply, so meanwhile the gauge shows an estimate: the last
exact count, plus about four characters per token for text added since.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from lmdesk.core.chats import Conversation, Message
from lmdesk.ui.pages.chat.session import ChatSession
from lmdesk.ui.services.inference import InferenceController

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats

CHARS_PER_TOKEN = 4
DEBOUNCE_MS = 300
STREAM_PUBLISH_S = 0.25
TOKENS_PER_MESSAGE = 4
"""Template tokens around each message (ChatML: <|im_start|>role\\n … <|im_end|>\\n)."""


def estimate_tokens(text_length: int) -> int:
    return math.ceil(text_length / CHARS_PER_TOKEN)


class ContextMeter(QObject):
    changed = Signal(int, int, bool)
    """tokens used, context size (0: no model), exact (False: an estimate)."""

    def __init__(
        self,
        session: ChatSession,
        controller: InferenceController,
        parent: QObject | None = None,
        *,
        debounce_ms: int = DEBOUNCE_MS,
    ) -> None:
        super().__init__(parent)
        self._session = session
        self._controller = controller
        self._draft = ""
        self._anchor = 0
        self._anchor_draft = 0
        self._streamed = 0
        self._exact = False
        self._request: int | None = None
        self._request_draft = ""
        self._closed = False
        self._last_stream_publish = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(debounce_ms)
        self._timer.timeout.connect(self.count_now)
        controller.token_count.connect(self._on_count)
        controller.loaded.connect(lambda _m: self.schedule())
        controller.unloaded.connect(lambda _r: self._publish())
        controller.load_failed.connect(lambda _m: self._publish())
        controller.busy_changed.connect(lambda busy: None if busy else self.schedule())
        controller.template_changed.connect(lambda _n, _e: self.schedule())
        session.conversation_opened.connect(self._on_opened)
        session.message_added.connect(self._on_message_added)
        session.reply_text.connect(self._on_reply_text)
        session.reply_reasoning.connect(self._on_reply_text)  # thinking fills the context too
        session.reply_finished.connect(self._on_reply_finished)

    @property
    def total(self) -> int:
        loaded = self._controller.loaded_model
        return 0 if loaded is None else loaded.n_ctx

    def used(self) -> int:
        added = len(self._draft) - self._anchor_draft
        return max(0, self._anchor + estimate_tokens(added) + estimate_tokens(self._streamed))

    @property
    def exact(self) -> bool:
        return self._exact

    def set_draft(self, text: str) -> None:
        self._draft = text
        self._exact = self._exact and text == self._request_draft
        self._publish()
        self.schedule()

    def schedule(self) -> None:
        if not self._closed:
            self._timer.start()

    def close(self) -> None:
        """Stop counting (the page is shutting down and the store closing)."""
        self._closed = True
        self._timer.stop()

    def count_now(self) -> None:
        """Ask the worker for an exact count (skipped while it is busy: retried when idle)."""
        messages = self._session.prompt_messages(self._draft)
        request = self._controller.count_tokens(messages)
        if request is not None:
            self._request, self._request_draft = request, self._draft

    def _on_count(self, request_id: int, tokens: int) -> None:
        if request_id != self._request:
            return
        self._request = None
        self._anchor, self._anchor_draft, self._streamed = tokens, len(self._request_draft), 0
        self._exact = self._draft == self._request_draft
        self._publish()

    def _on_opened(self, _conversation: Conversation | None, messages: list[Message]) -> None:
        system = self._session.conversation.system_prompt if self._session.conversation else ""
        chars = sum(len(m.content) for m in messages) + len(system)
        self._anchor = estimate_tokens(chars) + TOKENS_PER_MESSAGE * (len(messages) + 1)
        self._anchor_draft, self._streamed, self._exact = len(self._draft), 0, False
        self._publish()
        self.schedule()

    def _on_message_added(self, message: Message) -> None:
        if message.role == "user":  # the draft became history: its tokens stay counted
            self._anchor_draft = 0
            self._anchor += TOKENS_PER_MESSAGE
        self._exact = False
        self._publish()

    def _on_reply_text(self, _message_id: int, text: str) -> None:
        self._streamed += len(text)
        self._exact = False
        now = time.monotonic()
        if now - self._last_stream_publish >= STREAM_PUBLISH_S:  # a gauge, not a ticker
            self._last_stream_publish = now
            self._publish()

    def _on_reply_finished(self, stats: ReplyStats) -> None:
        self._anchor = stats.prompt_tokens + stats.generated_tokens
        self._anchor_draft, self._streamed, self._exact = 0, 0, False
        self._publish()
        self.schedule()

    def _publish(self) -> None:
        self.changed.emit(self.used(), self.total, self._exact)
