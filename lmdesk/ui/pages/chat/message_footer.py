"""The line under a message: its state badge, its stats, and the actions that apply now.

"128 tokens · 24 tok/s · first token 0.31 s · stopped: end of text", then
⟳ Regenerate · ▸ Continue · ✎ Edit · Copy as links. Which of them show
depends on the message (a reply? streaming? cut short?), on whether it is
the conversation's last one and on whether a reply is running. The
message widget connects the buttons; the style sheet is the message's.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton

from lmdesk.core.chats import Message

CONTINUABLE_STATES = ("interrupted", "stopped", "error")
CONTINUABLE_STOPS = ("max_tokens",)


class _ActionButton(QToolButton):
    """A link-like button exactly as wide as its text (the style's minimum width for
    tool buttons leaves odd gaps between "Edit" and "Copy")."""

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 12, hint.height())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class _StatsLabel(QLabel):
    """One line when there is room, wrapped when the window is narrow (a word-wrapped
    QLabel otherwise settles for a compromise width and wraps even with room to spare)."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.text()) + 4, hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(self.sizeHint().width(), 120), super().minimumSizeHint().height())


def _action(text: str, tip: str) -> QToolButton:
    button = _ActionButton()
    button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    button.setText(text)
    button.setToolTip(tip)
    button.setProperty("action", True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class MessageFooter(QHBoxLayout):
    """Badge, stats and action links in a row: right-aligned under the person's bubble,
    left-aligned under a reply."""

    def __init__(self, *, is_user: bool) -> None:
        super().__init__()
        self.badge = QLabel()
        self.stats = _StatsLabel()  # a narrow window wraps the numbers, not the buttons
        self.stats.setObjectName("stats")
        self.regenerate_button = _action("⟳ Regenerate", "Write this reply again")
        self.continue_button = _action("▸ Continue", "Let the model carry on from here")
        self.edit_button = _action(
            "✎ Edit", "Edit and resend (later messages are replaced)" if is_user else "Edit"
        )
        self.copy_button = _action("Copy", "Copy the message")
        self.fork_button = _action("Fork", "Fork chat from here: a new chat up to this message")
        self.previous_button = _action("‹", "The previous version of this message")
        self.next_button = _action("›", "The next version of this message")
        self.versions = QLabel()
        self.versions.setObjectName("stats")
        self.setContentsMargins(4, 0, 4, 0)
        self.setSpacing(6)
        if is_user:
            self.addStretch(1)
        for widget in (self.previous_button, self.versions, self.next_button):
            self.addWidget(widget)
        self.addWidget(self.badge)
        self.addWidget(self.stats)
        for button in (
            self.continue_button,
            self.regenerate_button,
            self.edit_button,
            self.copy_button,
            self.fork_button,
        ):
            self.addWidget(button)
        if not is_user:
            self.addStretch(1)

    def show_state(
        self, m: Message, *, is_last: bool, busy: bool, model_continues: bool = True
    ) -> None:
        """Badge, stats and which actions apply, for ``m`` as it is now; ``model_continues``:
        the loaded model can carry on a reply (a remote server's cannot)."""
        streaming = m.state == "streaming"
        state_badges = {"interrupted": "interrupted", "error": "error"}
        badge = "writing…" if streaming else state_badges.get(m.state, "")
        self.badge.setText(badge)
        self.badge.setObjectName(f"badge-{'streaming' if streaming else m.state}")
        self.badge.setVisible(bool(badge))
        self.badge.style().unpolish(self.badge)  # the object name picks the style sheet rule
        self.badge.style().polish(self.badge)
        self.badge.setToolTip(
            "The app closed before this reply finished; the text saved so far is kept."
            if m.state == "interrupted"
            else ""
        )
        stats = None if m.role == "user" or streaming else m.stats
        line = stats.summary() if stats is not None else ""
        self.stats.setText(line)
        self.stats.setVisible(bool(line))
        idle = not streaming and not busy
        is_reply = m.role == "assistant"
        stop_reason = m.stats.stop_reason if m.stats else None
        can_continue = model_continues and (
            m.state in CONTINUABLE_STATES or stop_reason in CONTINUABLE_STOPS
        )
        self.regenerate_button.setVisible(is_reply and is_last and idle)
        self.continue_button.setVisible(
            is_reply and is_last and idle and can_continue and bool(m.content or m.reasoning)
        )
        self.edit_button.setVisible(idle)
        self.copy_button.setVisible(not streaming)
        self.fork_button.setVisible(idle)

    def show_versions(self, index: int, count: int, *, busy: bool) -> None:
        """‹ index/count › when the message has other versions (count 1: hidden)."""
        shown = count > 1
        self.versions.setText(f"{index}/{count}")
        for widget in (self.previous_button, self.versions, self.next_button):
            widget.setVisible(shown)
        self.previous_button.setEnabled(not busy)
        self.next_button.setEnabled(not busy)
