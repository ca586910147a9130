"""What the chat shows before any model is loaded: one sentence and the way forward."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from lmdesk.ui.kit.widgets import heading, muted, primary_button, secondary_button


class EmptyState(QWidget):
    load_clicked = Signal()
    library_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatEmptyState")
        self.title = heading("Load a model to start chatting", scale=1.4)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = muted(
            "Pick one from the model picker above, check in the Load panel how much of it "
            "fits your GPU, then press Load model."
        )
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.text.setMaximumWidth(440)  # narrower windows wrap it instead of growing
        self.load_button = primary_button("Choose a model")
        self.library_button = secondary_button("My Models")
        self.load_button.clicked.connect(self.load_clicked)
        self.library_button.clicked.connect(self.library_clicked)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.load_button)
        buttons.addWidget(self.library_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.addStretch(2)
        box.addWidget(self.title)
        box.addWidget(self.text, 0, Qt.AlignmentFlag.AlignHCenter)
        box.addSpacing(12)
        box.addLayout(buttons)
        box.addStretch(3)
