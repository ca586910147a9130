"""Controls built from the settings schema: bounds and tooltips come from `setting_info`.

So the dialog cannot drift from the schema: a new bound in
`lmdesk.core.settings.schema` shows up here without touching the UI.
"""

from __future__ import annotations

from typing import Any, get_args

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from lmdesk.core.settings import setting_info
from lmdesk.core.settings.validation import field_types
from lmdesk.ui.kit.folder_choice import folder_picker

INT_MAX = 2**31 - 1  # QSpinBox holds a C int


def int_spin(owner: type[Any], name: str, value: int, *, special: str | None = None) -> QSpinBox:
    """A spin box with the setting's bounds; `special` names its minimum (e.g. 'auto')."""
    info = setting_info(owner, name)
    spin = QSpinBox()
    low = int(info.minimum) if info.minimum is not None else 0
    if special is not None:
        low -= 1
        spin.setSpecialValueText(special)
    spin.setRange(max(low, -INT_MAX), min(int(info.maximum or INT_MAX), INT_MAX))
    spin.setValue(value)
    spin.setToolTip(info.description)
    spin.setObjectName(name)
    return spin


def float_spin(owner: type[Any], name: str, value: float, *, step: float = 0.05) -> QDoubleSpinBox:
    info = setting_info(owner, name)
    spin = QDoubleSpinBox()
    spin.setDecimals(2)
    spin.setSingleStep(step)
    spin.setRange(float(info.minimum or 0.0), float(info.maximum or 1e9))
    spin.setValue(value)
    spin.setToolTip(info.description)
    spin.setObjectName(name)
    return spin


def choice_combo(owner: type[Any], name: str, value: str) -> QComboBox:
    """A combo box of the setting's Literal choices."""
    combo = QComboBox()
    for choice in get_args(field_types(owner)[name]):
        if isinstance(choice, str):
            combo.addItem(choice)
    combo.setCurrentText(value)
    combo.setToolTip(setting_info(owner, name).description)
    combo.setObjectName(name)
    return combo


class FolderField(QWidget):
    """A path line edit and a 'Choose…' button opening a non-modal folder picker."""

    def __init__(
        self, text: str = "", placeholder: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(text)
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton("Choose…")
        self.button.clicked.connect(self.choose)
        self.picker: QFileDialog | None = None
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)

    @property
    def text(self) -> str:
        return self.edit.text().strip()

    def choose(self) -> None:
        self.picker = folder_picker(self, self.text, self.edit.setText)
