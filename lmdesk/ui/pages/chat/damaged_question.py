"""The question a damaged chats database asks, inside the chat page (never a modal dialog)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from lmdesk.ui.kit.widgets import primary_button, secondary_button

RECOVER, START_EMPTY = "recover", "start-empty"


class DamagedChatsQuestion(QFrame):
    """The problem, "Recover" and "Start empty"; hidden until `ask()`."""

    answered = Signal(str)
    """RECOVER or START_EMPTY."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("damagedChatsQuestion")
        self.setStyleSheet(
            "#damagedChatsQuestion { background: #fffbeb; border: 1px solid #fde68a;"
            " border-radius: 8px; } #damagedChatsQuestion QLabel { color: #92400e; }"
        )
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.recover_button = primary_button("Recover")
        self.recover_button.setToolTip(
            "Keep a copy of the damaged file; rebuild it from what can be read"
        )
        self.empty_button = secondary_button("Start empty")
        self.empty_button.setToolTip("Keep the damaged file aside; begin a new chats database")
        self.recover_button.clicked.connect(lambda: self._answer(RECOVER))
        self.empty_button.clicked.connect(lambda: self._answer(START_EMPTY))
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.empty_button)
        buttons.addWidget(self.recover_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        self.hide()

    def ask(self, text: str) -> None:
        self.text.setText(text)
        self.recover_button.setEnabled(True)
        self.empty_button.setEnabled(True)
        self.show()

    def wait_for_reply(self) -> None:
        """Answered while a reply streams: it applies when the reply ends."""
        self.recover_button.setEnabled(False)
        self.empty_button.setEnabled(False)
        self.text.setText(f"{self.text.text()}\nThis happens when the reply ends.")

    def _answer(self, answer: str) -> None:
        self.answered.emit(answer)
