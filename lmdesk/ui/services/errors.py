"""One way to show errors: a dismissable banner at the top of the window, with Details.

`show_error(parent, message, details)` is for code on the GUI thread;
`report_error(message, details)` may be called from any thread (it goes
through a queued signal). Both also log. Nothing here is modal: a person
can keep working while a banner is up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

_log = logging.getLogger(__name__)

_LEVEL_STYLES = {
    "error": ("#fef2f2", "#991b1b", "#fecaca"),
    "warning": ("#fffbeb", "#92400e", "#fde68a"),
    "info": ("#eff6ff", "#1e3a8a", "#bfdbfe"),
}


class ErrorBridge(QObject):
    """Carries reports from any thread to the GUI thread."""

    sig_error = Signal(str, str, str)
    """message, details, level ('error', 'warning' or 'info')."""

    def report(self, message: str, details: str = "", level: str = "error") -> None:
        self.sig_error.emit(message, details, level)


_bridge: ErrorBridge | None = None


def error_bridge() -> ErrorBridge:
    """The app's one bridge; created on first use, which must be on the GUI thread."""
    global _bridge
    if _bridge is None:
        _bridge = ErrorBridge()
    return _bridge


def report_error(message: str, details: str | None = None, *, level: str = "error") -> None:
    """Log and show an error from any thread (queued to the GUI thread's banner)."""
    _log_report(message, details, level)
    error_bridge().report(message, details or "", level)


def _log_report(message: str, details: str | None, level: str) -> None:
    log = _log.error if level == "error" else _log.warning if level == "warning" else _log.info
    log("%s%s", message, f"\n{details}" if details else "")


class ErrorBanner(QFrame):
    """A strip above the page: icon, message, 'Details' toggle, dismiss button.

    Several errors in a row keep the newest message and say how many came
    before; dismissing clears them all.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self._count = 0
        self._message = QLabel()
        self._message.setWordWrap(True)
        bold = self._message.font()
        bold.setBold(True)
        self._message.setFont(bold)
        self._message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._more = QLabel()
        self._details_button = QPushButton("Details")
        self._details_button.setCheckable(True)
        self._details_button.setFlat(True)
        self._details_button.toggled.connect(self._toggle_details)
        self._action = QPushButton()
        self._action.setObjectName("bannerAction")
        self._action.hide()
        self._action.clicked.connect(self._run_action)
        self._on_action: Callable[[], object] | None = None
        self._close = QToolButton()
        self._close.setText("✕")
        self._close.setToolTip("Dismiss")
        self._close.setAutoRaise(True)
        self._close.clicked.connect(self.dismiss)
        self._details = QPlainTextEdit()
        self._details.setReadOnly(True)
        self._details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self._details.setMaximumHeight(180)
        self._details.hide()

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self._message, 1)
        row.addWidget(self._more)
        row.addWidget(self._action)
        row.addWidget(self._details_button)
        row.addWidget(self._close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addLayout(row)
        layout.addWidget(self._details)
        self.hide()

    @property
    def message(self) -> str:
        return self._message.text()

    @property
    def details(self) -> str:
        return self._details.toPlainText()

    @property
    def count(self) -> int:
        """Reports shown since the banner was last dismissed."""
        return self._count

    @property
    def details_visible(self) -> bool:
        return self._details.isVisible()

    @property
    def action_button(self) -> QPushButton:
        """The way out offered with the message (hidden when there is none)."""
        return self._action

    def show_message(
        self,
        message: str,
        details: str | None = None,
        level: str = "error",
        action: tuple[str, Callable[[], object]] | None = None,
    ) -> None:
        """Show `message`; `action` (label, callback) adds a button that runs it and dismisses."""
        background, text, border = _LEVEL_STYLES.get(level, _LEVEL_STYLES["error"])
        self.setStyleSheet(
            f"#errorBanner {{ background: {background}; border-bottom: 1px solid {border}; }}"
            f"#errorBanner QLabel, #errorBanner QPushButton, #errorBanner QToolButton "
            f"{{ color: {text}; background: transparent; }}"
        )
        if not (self.isVisible() and message == self._message.text()):
            self._count += 1  # the same sentence twice in a row (two owners saw it) is one
        self._message.setText(message)
        self._more.setText(f"+{self._count - 1} earlier" if self._count > 1 else "")
        self._details.setPlainText(details or "")
        self._details_button.setVisible(bool(details))
        self._details_button.setChecked(False)
        self._on_action = action[1] if action else None
        self._action.setText(action[0] if action else "")
        self._action.setVisible(action is not None)
        self.show()

    def set_details_expanded(self, expanded: bool) -> None:
        self._details_button.setChecked(expanded)

    def dismiss(self) -> None:
        self._count = 0
        self._on_action = None
        self._details_button.setChecked(False)
        self.hide()

    def _run_action(self) -> None:
        action, self._on_action = self._on_action, None
        self.dismiss()
        if action is not None:
            action()

    def _toggle_details(self, expanded: bool) -> None:
        self._details.setVisible(expanded)
        self._details_button.setText("Hide details" if expanded else "Details")


def show_error(
    parent: QWidget | None, message: str, details: str | None = None, *, level: str = "error"
) -> None:
    """Show `message` in the banner of `parent`'s window (GUI thread only).

    From another thread this falls back to `report_error`. Without a window
    that has a banner, a non-modal message box is shown instead.
    """
    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        report_error(message, details, level=level)
        return
    _log_report(message, details, level)
    banner = _find_banner(parent)
    if banner is not None:
        banner.show_message(message, details, level)
        return
    box = QMessageBox(QMessageBox.Icon.Warning, "lmdesk", message, parent=parent)
    if details:
        box.setDetailedText(details)
    box.setWindowModality(Qt.WindowModality.NonModal)
    _open_boxes.append(box)  # without a parent, Python's reference is all that keeps it alive
    box.finished.connect(lambda _result: _open_boxes.remove(box))
    box.show()


_open_boxes: list[QMessageBox] = []


def _find_banner(parent: QWidget | None) -> ErrorBanner | None:
    candidates: list[QWidget] = []
    if parent is not None:
        candidates.append(parent.window())
    app = QApplication.instance()
    if isinstance(app, QApplication):
        active = app.activeWindow()
        if active is not None:
            candidates.append(active)
        candidates.extend(app.topLevelWidgets())
    for window in candidates:
        if not window.isVisible():
            continue
        banner = window if isinstance(window, ErrorBanner) else window.findChild(ErrorBanner)
        if banner is not None:
            return banner
    return None
