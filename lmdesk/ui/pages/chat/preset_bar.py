"""Named presets: a system prompt and sampling, saved by name, applied to the open chat.

The bar lists the person's presets; Apply copies one into the conversation (its system
prompt and its sampling); Save keeps the conversation's current ones under a name;
"Default for this model" makes new chats with the loaded model start from the preset
(over the model file's recommended sampling, which is over the settings' defaults).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import muted


class PresetBar(QWidget):
    apply_requested = Signal(str)
    """preset name: copy it into the open chat."""
    save_requested = Signal(str)
    """name: keep the open chat's system prompt and sampling under it."""
    delete_requested = Signal(str)
    model_default_changed = Signal(str)
    """preset name, or '' for none: what new chats with the loaded model start from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.combo.setPlaceholderText("No saved presets")
        self.apply_button = QPushButton("Apply")
        self.delete_button = QPushButton("Delete")
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name for this chat's prompt and sampling")
        self.save_button = QPushButton("Save preset")
        self.model_default = QCheckBox("Default for new chats with this model")
        self._loading = False
        row = QHBoxLayout()
        row.addWidget(self.combo, 1)
        row.addWidget(self.apply_button)
        row.addWidget(self.delete_button)
        save = QHBoxLayout()
        save.addWidget(self.name, 1)
        save.addWidget(self.save_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(muted("Presets: a system prompt with its sampling."))
        box.addLayout(row)
        box.addWidget(self.model_default)
        box.addLayout(save)
        self.apply_button.clicked.connect(lambda: self._emit(self.apply_requested))
        self.delete_button.clicked.connect(lambda: self._emit(self.delete_requested))
        self.save_button.clicked.connect(self._save)
        self.name.returnPressed.connect(self._save)
        self.model_default.toggled.connect(self._on_model_default)
        self.combo.currentTextChanged.connect(lambda _t: self._refresh_default_box())
        self._model_default = ""
        self._model_loaded = False
        self.set_presets([])

    def set_presets(self, names: list[str], current: str = "") -> None:
        self._loading = True
        self.combo.clear()
        self.combo.addItems(names)
        if current in names:
            self.combo.setCurrentText(current)
        for widget in (self.combo, self.apply_button, self.delete_button):
            widget.setEnabled(bool(names))
        self._loading = False
        self._refresh_default_box()

    def set_model_default(self, name: str, *, loaded: bool) -> None:
        """The loaded model's default preset ('' for none); ``loaded``: a model is loaded."""
        self._model_default, self._model_loaded = name, loaded
        if name:
            self.combo.setCurrentText(name)
        self._refresh_default_box()

    def _refresh_default_box(self) -> None:
        self._loading = True
        current = self.combo.currentText()
        self.model_default.setEnabled(self._model_loaded and bool(current))
        self.model_default.setChecked(bool(current) and current == self._model_default)
        self._loading = False

    def _emit(self, signal: Signal) -> None:
        if self.combo.currentText():
            signal.emit(self.combo.currentText())  # type: ignore[attr-defined]

    def _save(self) -> None:
        name = self.name.text().strip()
        if name:
            self.save_requested.emit(name)
            self.name.clear()

    def _on_model_default(self, checked: bool) -> None:
        if self._loading:
            return
        self.model_default_changed.emit(self.combo.currentText() if checked else "")
