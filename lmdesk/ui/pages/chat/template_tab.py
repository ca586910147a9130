"""The Template tab: the chat template in use, a per-model override, and the prompt it makes.

The editor shows the model's own Jinja template (or the person's override). "Use for this
model" checks the text (it must parse), keeps it for this model file and switches the engine
to it; "Back to the file's" forgets it. Below, the open conversation as the template renders
it (thinking switches included), rendered off the GUI thread with the template sandbox's
time limit, so a template that loops shows an error instead of freezing the window.
`lmdesk.core.engine` is imported where it is used (it loads llama.cpp, which the inference
worker imports on its own thread; building the page must not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import muted
from lmdesk.ui.services.background import BackgroundTask

PREVIEW_DELAY_MS = 300
CUSTOM_TEMPLATE = "custom"
GGUF_TEMPLATE = "gguf"
"""The engine's names (`core.engine.templates`), repeated so this module does not import it."""


class TemplateTab(QWidget):
    override_chosen = Signal(str)
    """Jinja source to keep for the loaded model ('' to go back to the file's template)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.status = QLabel("No model loaded.")
        self.status.setWordWrap(True)
        self.editor = QPlainTextEdit()
        self.editor.setFont(mono)
        self.editor.setPlaceholderText("The model's Jinja chat template")
        self.apply_button = QPushButton("Use for this model")
        self.reset_button = QPushButton("Back to the file's")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b91c1c;")
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setFont(mono)
        self.preview.setPlaceholderText("The prompt this conversation makes")
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 16, 16, 16)
        box.addWidget(self.status)
        box.addWidget(self.editor, 3)
        box.addLayout(buttons)
        box.addWidget(self.error)
        box.addWidget(muted("Prompt preview (this conversation, as the model will read it):"))
        box.addWidget(self.preview, 2)
        self.apply_button.clicked.connect(self._apply)
        self.reset_button.clicked.connect(lambda: self.override_chosen.emit(""))
        self._file_source = ""
        self._tokens = ("", "")
        self._name = ""
        self._override = ""
        self._messages: list[dict[str, str]] = []
        self._variables: dict[str, Any] = {}
        self._task: BackgroundTask | None = None
        self._again = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._render)
        self.set_model(None)

    # -- what is shown --------------------------------------------------------------------------
    def set_model(
        self,
        template_source: str | None,
        *,
        bos_token: str = "",
        eos_token: str = "",
        override: str = "",
    ) -> None:
        """The loaded model's own template (None: no model), its tokens and the override."""
        loaded = template_source is not None
        self._file_source = template_source or ""
        self._tokens = (bos_token, eos_token)
        self._override = override
        self.editor.setPlainText(override or self._file_source)
        for widget in (self.editor, self.apply_button, self.reset_button):
            widget.setEnabled(loaded)
        if not loaded:
            self._name = ""
            self.status.setText("No model loaded.")
            self.preview.setPlainText("")
        self.error.setText("")

    def set_template_in_use(self, name: str, error: str = "") -> None:
        """The engine's template now ("gguf", "custom", a built-in's name) and any refusal."""
        self._name = name
        if name == CUSTOM_TEMPLATE:
            text = "Your own template for this model is in use."
        elif name == GGUF_TEMPLATE:
            text = "The model file's own template is in use."
        elif name == "completion":
            text = "Plain completion: the text is continued, no chat format."
        else:
            text = f"The built-in {name} format is in use (the file has no template)."
        self.status.setText(text)
        self.reset_button.setEnabled(bool(self._override) or name == CUSTOM_TEMPLATE)
        self.error.setText(error)
        self._schedule()

    def set_override(self, source: str) -> None:
        self._override = source

    def set_conversation(
        self, messages: Sequence[dict[str, str]], variables: dict[str, Any]
    ) -> None:
        self._messages = [dict(m) for m in messages]
        self._variables = dict(variables)
        self._schedule()

    # -- actions --------------------------------------------------------------------------------
    def _apply(self) -> None:
        from lmdesk.core.engine.errors import TemplateError
        from lmdesk.core.engine.templates import JinjaTemplate

        source = self.editor.toPlainText()
        try:
            JinjaTemplate(source, bos_token=self._tokens[0], eos_token=self._tokens[1])
        except TemplateError as exc:
            self.error.setText(f"Not used: {exc}.")
            return
        self.error.setText("")
        self.override_chosen.emit(source)

    # -- the preview ----------------------------------------------------------------------------
    def _schedule(self) -> None:
        if self._name:
            self._timer.start()

    def _render(self) -> None:
        if self._task is not None and self._task.running:
            self._again = True  # one render at a time; the newest state is rendered next
            return
        name, messages, variables = self._name, self._messages, self._variables
        source = self._override if name == CUSTOM_TEMPLATE else self._file_source
        bos, eos = self._tokens

        def work(_progress: object) -> str:
            from lmdesk.core.engine.templates import BUILTIN_TEMPLATES, JinjaTemplate

            if name in (CUSTOM_TEMPLATE, GGUF_TEMPLATE):
                template = JinjaTemplate(source, bos_token=bos, eos_token=eos)
                return template.render(messages, variables=variables)
            return BUILTIN_TEMPLATES[name].render(messages)

        task = BackgroundTask(work, name="template-preview", parent=self)
        task.sig_done.connect(self._show_preview)
        task.sig_failed.connect(lambda message, _tb: self._show_preview_error(message))
        task.sig_finished.connect(self._after_render)
        self._task = task
        task.start()

    def _show_preview(self, text: str) -> None:
        self.preview.setPlainText(text)

    def _show_preview_error(self, message: str) -> None:
        self.preview.setPlainText("")
        self.error.setText(f"The template cannot render this conversation: {message}")

    def _after_render(self) -> None:
        if self._again:
            self._again = False
            self._render()

    def wait(self) -> None:
        """Let a running preview end (shutdown, tests)."""
        if self._task is not None:
            self._task.wait(5)
