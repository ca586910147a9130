"""The Sampling tab: how the next token is picked, saved with the conversation.

A preset fills the sampling knobs; editing a knob turns the preset to
"Custom". Max tokens 0 means "until the model stops"; seed -1 means "a new
one each reply".
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.reasoning import ThinkingSwitches
from lmdesk.core.sampling import PRESETS, REASONING_EFFORTS, SamplingSettings
from lmdesk.ui.kit.widgets import muted
from lmdesk.ui.pages.chat.preset_bar import PresetBar

CUSTOM = "Custom"
HELP = {
    "temperature": "Randomness: 0 always picks the most likely token (same prompt, same reply).",
    "top_p": "Keep the likeliest tokens up to this total probability (1: off).",
    "top_k": "Keep only this many likeliest tokens (0: off).",
    "min_p": "Drop tokens below this share of the top token's probability (0: off).",
    "repeat_penalty": "Discourage repeating recent tokens (1: off).",
    "max_tokens": "Longest reply, in tokens (0: until the model stops or the context is full).",
    "seed": "Random seed (-1: a new one each reply).",
    "thinking": "Whether the model thinks before it answers (its chat template's switch).",
    "reasoning_effort": "How long the model thinks before it answers (its chat template's switch).",
}
MODEL_DEFAULT = "Model's default"
THINKING_CHOICES = {MODEL_DEFAULT: None, "On": True, "Off": False}


def _double(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    return box


def _int(low: int, high: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setKeyboardTracking(False)
    box.setGroupSeparatorShown(True)
    return box


class SamplingTab(QWidget):
    changed = Signal(object)
    """SamplingSettings: the person changed a knob or picked a preset."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loading = False
        self._pending: SamplingSettings | None = None
        self.preset = QComboBox()
        self._presets_filled = False
        self.fields: dict[str, QAbstractSpinBox] = {
            "temperature": _double(0.0, 5.0, 0.05, 2),
            "top_p": _double(0.01, 1.0, 0.05, 2),
            "top_k": _int(0, 1000),
            "min_p": _double(0.0, 1.0, 0.01, 2),
            "repeat_penalty": _double(0.5, 2.0, 0.05, 2),
            "max_tokens": _int(0, 1_048_576),
            "seed": _int(-1, 2**31 - 1),
        }
        self.fields["max_tokens"].setSpecialValueText("until done")
        self.fields["seed"].setSpecialValueText("random")
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(10)
        form.addRow("Sampling preset", self.preset)
        labels = {
            "temperature": "Temperature",
            "top_p": "Top-p",
            "top_k": "Top-k",
            "min_p": "Min-p",
            "repeat_penalty": "Repeat penalty",
            "max_tokens": "Max tokens",
            "seed": "Seed",
        }
        for key, box in self.fields.items():
            box.setToolTip(HELP[key])
            label = QLabel(labels[key])
            label.setToolTip(HELP[key])
            form.addRow(label, box)
            box.valueChanged.connect(self._on_edit)  # type: ignore[attr-defined]
        self.thinking = QComboBox()
        self.thinking.addItems(list(THINKING_CHOICES))
        self.reasoning_effort = QComboBox()
        self.reasoning_effort.addItems([MODEL_DEFAULT, *REASONING_EFFORTS])
        self._switch_labels: dict[str, QLabel] = {}
        for key, combo, text in (
            ("thinking", self.thinking, "Thinking"),
            ("reasoning_effort", self.reasoning_effort, "Reasoning effort"),
        ):
            label = QLabel(text)
            label.setToolTip(HELP[key])
            combo.setToolTip(HELP[key])
            form.addRow(label, combo)
            combo.currentIndexChanged.connect(self._on_edit)
            self._switch_labels[key] = label
        self.set_switches(ThinkingSwitches())
        self.preset.currentTextChanged.connect(self._on_preset)
        column = QVBoxLayout(self)
        column.setContentsMargins(16, 16, 16, 16)
        column.setSpacing(12)
        self.presets = PresetBar()
        column.addWidget(self.presets)
        column.addLayout(form)
        column.addWidget(muted("Saved with this conversation. Hover a setting for what it does."))
        column.addStretch(1)

    def set_switches(self, switches: ThinkingSwitches) -> None:
        """Show the thinking switches the loaded model's chat template has (none: hidden)."""
        for key, combo, shown in (
            ("thinking", self.thinking, switches.enable_thinking),
            ("reasoning_effort", self.reasoning_effort, switches.reasoning_effort),
        ):
            combo.setVisible(shown)
            self._switch_labels[key].setVisible(shown)

    def _fill_presets(self) -> None:
        if self._presets_filled:
            return
        self._presets_filled = True
        self._loading = True
        self.preset.addItems([*PRESETS, CUSTOM])
        self._loading = False

    def set_values(self, values: SamplingSettings) -> None:
        """Show a conversation's values (no `changed` signal); until the tab is first shown
        they wait, so building the page stays cheap."""
        self._pending = values
        if self.isVisible():
            self._apply_pending()

    def showEvent(self, event: QShowEvent) -> None:
        self._apply_pending()
        super().showEvent(event)

    def _apply_pending(self) -> None:
        if self._pending is None:
            return
        values, self._pending = self._pending, None
        self._fill_presets()
        self._loading = True
        try:
            for key, box in self.fields.items():
                value = getattr(values, key)
                if key == "max_tokens":
                    value = value or 0
                elif key == "seed":
                    value = -1 if value is None else value
                box.setValue(value)  # type: ignore[attr-defined]
            thinking = {v: k for k, v in THINKING_CHOICES.items()}[values.thinking]
            self.thinking.setCurrentText(thinking)
            self.reasoning_effort.setCurrentText(values.reasoning_effort or MODEL_DEFAULT)
            self.preset.setCurrentText(values.preset_name() or CUSTOM)
        finally:
            self._loading = False

    def values(self) -> SamplingSettings:
        """What the tab shows (the spin boxes' ranges keep every knob valid)."""
        if self._pending is not None:
            return self._pending
        shown = {key: box.value() for key, box in self.fields.items()}  # type: ignore[attr-defined]
        effort = self.reasoning_effort.currentText()
        return SamplingSettings.from_stored(shown, SamplingSettings()).with_changes(
            thinking=THINKING_CHOICES[self.thinking.currentText()],
            reasoning_effort=None if effort == MODEL_DEFAULT else effort,
        )

    def _on_edit(self) -> None:
        if self._loading:
            return
        values = self.values()
        self._loading = True
        self.preset.setCurrentText(values.preset_name() or CUSTOM)
        self._loading = False
        self.changed.emit(values)

    def _on_preset(self, name: str) -> None:
        if self._loading or name == CUSTOM:
            return
        values = self.values().with_preset(name)
        self._pending = values
        self._apply_pending()
        self.changed.emit(values)
