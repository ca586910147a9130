"""First run: no model yet. Offer the small starter model, or a look around Hugging Face.

The fetch runs on a worker thread (`BackgroundTask`); its progress arrives
as queued signals, so the bar moves while the window stays responsive.
`fetch` is injectable: tests pass one that writes a small file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.units import format_size
from lmdesk.ui.kit.icons import app_icon
from lmdesk.ui.kit.widgets import Card, heading, muted, primary_button, secondary_button
from lmdesk.ui.services.background import BackgroundTask, Progress
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.errors import show_error

StarterFetch = Callable[[Path, Progress], Path]
"""fetch(models_dir, progress) -> path of the model file; blocking."""

CONTENT_WIDTH = 680
STARTER_LABEL = "Get the starter model (SmolLM2 135M, 94 MB)"
_STAGES = {"download": "Downloading", "extract": "Unpacking", "verify": "Checking"}
_STEPS = (
    ("1", "Find a model", "Search Hugging Face for GGUF models by name or size."),
    ("2", "See if it fits", "Before downloading, see how many layers your GPU can hold."),
    ("3", "Chat", "Everything runs on this computer with llama.cpp."),
)


def default_fetch(context: AppContext) -> StarterFetch:
    """Fetch the starter from the Hugging Face server the settings name at that moment."""

    def fetch(models_dir: Path, progress: Progress) -> Path:
        from lmdesk.core.starter import ensure_starter_model

        endpoint = context.settings.settings.hf_endpoint
        return ensure_starter_model(models_dir, progress=progress, endpoint=endpoint)

    return fetch


class WelcomePage(QWidget):
    """Shown in place of the chat page until a model exists."""

    starter_ready = Signal(str)
    """path of the starter model, once it is in the models folder and verified."""
    browse_requested = Signal()

    def __init__(
        self,
        context: AppContext,
        *,
        fetch: StarterFetch | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePage")
        self._context = context
        self._fetch = fetch or default_fetch(context)
        self._task: BackgroundTask | None = None

        self.get_button = primary_button(STARTER_LABEL)
        self.get_button.clicked.connect(self.fetch_starter)
        self.browse_button = secondary_button("Browse models on Hugging Face")
        self.browse_button.clicked.connect(self.browse_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.progress.hide()
        self.status = muted("")
        self.status.hide()
        self._build()

    @property
    def busy(self) -> bool:
        return self._task is not None and self._task.running

    def _build(self) -> None:
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(72, 72))
        icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = heading("Welcome to lmdesk", scale=1.9)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        subtitle = muted("Run language models on your own computer, sized to your GPU.")
        subtitle.setAlignment(Qt.AlignmentFlag.AlignCenter)

        card = Card(padding=22)
        card.box.addWidget(heading("Start with a tiny model", scale=1.15))
        card.box.addWidget(
            muted(
                "SmolLM2 135M Instruct is small enough for any computer. It is a quick "
                "way to check that everything works; then find a bigger model."
            )
        )
        card.box.addSpacing(6)
        card.box.addWidget(self.get_button)
        card.box.addWidget(self.progress)
        card.box.addWidget(self.status)
        card.box.addSpacing(4)
        card.box.addWidget(self.browse_button)

        steps = QHBoxLayout()
        steps.setSpacing(14)
        for number, name, text in _STEPS:
            step = Card(padding=14)
            step.box.addWidget(heading(f"{number}  {name}", scale=1.0))
            step.box.addWidget(muted(text))
            step.box.addStretch(1)
            steps.addWidget(step, 1)

        content = QWidget()  # takes up to CONTENT_WIDTH; the wrapped texts size to it
        content.setMaximumWidth(CONTENT_WIDTH)
        content.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(10)
        column.addWidget(icon)
        column.addWidget(title)
        column.addWidget(subtitle)
        column.addSpacing(18)
        column.addWidget(card)
        column.addSpacing(18)
        column.addLayout(steps)

        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(content)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)

    def fetch_starter(self) -> None:
        """Start fetching the starter model (does nothing while a fetch runs)."""
        if self.busy:
            return
        models_dir = self._context.settings.models_dir()
        fetch = self._fetch
        task = BackgroundTask(
            lambda progress: fetch(models_dir, progress), name="starter", parent=self
        )
        task.sig_progress.connect(self._on_progress)
        task.sig_done.connect(self._on_done)
        task.sig_failed.connect(self._on_failed)
        self._task = task
        self.get_button.setEnabled(False)
        self.get_button.setText("Getting the starter model…")
        self.progress.setValue(0)
        self.progress.show()
        self.status.setText("Starting…")
        self.status.show()
        task.start()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._task.wait(timeout_s) if self._task is not None else True

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        fraction = done / total if total > 0 else 0.0
        self.progress.setValue(round(1000 * min(fraction, 1.0)))
        words = _STAGES.get(stage, stage.capitalize())
        self.status.setText(f"{words} {fraction:.0%} · {format_size(done)} of {format_size(total)}")

    def _on_done(self, path: object) -> None:
        self.progress.setValue(1000)
        self.status.setText("Ready. Loading it…")
        self.get_button.setText("Starter model ready")
        self._context.signals.models_changed.emit()
        self.starter_ready.emit(str(path))

    def _on_failed(self, message: str, details: str) -> None:
        self.progress.hide()
        self.get_button.setEnabled(True)
        self.get_button.setText("Try again: " + STARTER_LABEL)
        if message == "Cancelled":
            self.status.setText("Stopped.")
            return
        self.status.setText(f"Could not get the starter model: {message}")
        show_error(self, "Could not get the starter model", f"{message}\n\n{details}".strip())
