"""An inline message inside a page (a gated repository, a failed listing): not a popup."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

STYLES = {
    "error": ("#fef2f2", "#991b1b", "#fecaca"),
    "warning": ("#fffbeb", "#92400e", "#fde68a"),
    "info": ("#eff6ff", "#1e3a8a", "#bfdbfe"),
}


class Notice(QLabel):
    """A rounded, coloured, selectable text; hidden while empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notice")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.level = ""
        self.hide()

    def show_message(self, message: str, *, level: str = "info") -> None:
        background, text, border = STYLES.get(level, STYLES["info"])
        self.level = level
        self.setStyleSheet(
            f"#notice {{ background: {background}; color: {text}; border: 1px solid {border};"
            " border-radius: 8px; padding: 8px 12px; }"
        )
        self.setText(message)
        self.show()

    def clear(self) -> None:
        self.level = ""
        self.setText("")
        self.hide()
