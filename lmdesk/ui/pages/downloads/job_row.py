"""One download in the list: name, progress bar, status line and the buttons its state allows."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QWidget

from lmdesk.core.downloads import JobSnapshot, JobState
from lmdesk.ui.kit.download_text import status_line
from lmdesk.ui.kit.theme import ACCENT, VERDICT_COLORS
from lmdesk.ui.kit.widgets import Card, secondary_button
from lmdesk.ui.pages.downloads.jobs_model import progress_permille

# Which buttons each state shows.
BUTTONS: dict[JobState, tuple[str, ...]] = {
    JobState.QUEUED: ("pause", "cancel"),
    JobState.RUNNING: ("pause", "cancel"),
    JobState.RETRYING: ("pause", "cancel"),
    JobState.VERIFYING: (),
    JobState.PAUSED: ("resume", "cancel"),
    JobState.FAILED: ("retry", "cancel"),
    JobState.CANCELLED: ("retry",),
    JobState.DONE: ("show",),
}
LABELS = {
    "pause": "Pause",
    "resume": "Resume",
    "retry": "Retry",
    "show": "Show in My Models",
    "cancel": "Cancel",
}
BAR_COLORS = {
    JobState.DONE: VERDICT_COLORS["fits"].name(),
    JobState.FAILED: VERDICT_COLORS["no_fit"].name(),
    JobState.PAUSED: VERDICT_COLORS["cpu_only"].name(),
    JobState.RETRYING: VERDICT_COLORS["tight"].name(),
}


class JobRow(Card):
    """Shows one `JobSnapshot`; `action(job_id, name)` when a button is pressed."""

    action = Signal(str, str)
    """job id, one of 'pause', 'resume', 'cancel', 'retry', 'show'."""

    def __init__(self, snapshot: JobSnapshot, parent: QWidget | None = None) -> None:
        super().__init__(parent, padding=12)
        self.job_id = snapshot.job_id
        self.name = QLabel()
        font = self.name.font()
        font.setBold(True)
        self.name.setFont(font)
        self.repo = QLabel()
        self.repo.setStyleSheet("color: palette(placeholder-text);")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = {key: secondary_button(text) for key, text in LABELS.items()}
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        for key, button in self.buttons.items():
            button.setObjectName(f"job-{key}")
            button.clicked.connect(lambda _=False, k=key: self.action.emit(self.job_id, k))
            buttons.addWidget(button)
        grid = QGridLayout()
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.repo, 1, 0)
        grid.addLayout(buttons, 0, 1, 2, 1, Qt.AlignmentFlag.AlignRight)
        grid.setColumnStretch(0, 1)
        self.box.addLayout(grid)
        self.box.addWidget(self.bar)
        self.box.addWidget(self.status)
        self._color = ""
        self.set_snapshot(snapshot)

    def set_snapshot(self, snapshot: JobSnapshot) -> None:
        self.snapshot = snapshot
        self.name.setText(snapshot.filename.rsplit("/", 1)[-1])
        self.repo.setText(snapshot.repo_id)
        self.setToolTip(str(snapshot.path))
        permille = progress_permille(snapshot)
        if snapshot.state is JobState.DONE:
            permille = 1000
        if permille < 0 and snapshot.state is JobState.RUNNING:
            self.bar.setRange(0, 0)  # size not known yet: busy
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(max(permille, 0))
        self._set_bar_color(BAR_COLORS.get(snapshot.state, ACCENT.name()))
        self.status.setText(status_line(snapshot))
        failed = snapshot.state is JobState.FAILED
        self.status.setStyleSheet(
            f"color: {VERDICT_COLORS['no_fit'].name()};" if failed else "color: palette(text);"
        )
        shown = BUTTONS.get(snapshot.state, ())
        for key, button in self.buttons.items():
            button.setVisible(key in shown)

    def _set_bar_color(self, color: str) -> None:
        if color == self._color:
            return
        self._color = color
        self.bar.setStyleSheet(
            "QProgressBar { background: palette(midlight); border: none; border-radius: 4px; }"
            f"QProgressBar::chunk {{ background: {color}; border-radius: 4px; }}"
        )
