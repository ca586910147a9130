"""The Load panel's inputs: target GPU, GPU layers (with Auto), experts on the CPU (for a
mixture-of-experts model), context, KV cache type, CPU threads.

Only translates between widgets and `LoadSettings`; the numbers come from
`core.estimate`, called by the panel. One rule lives here because it is about
which combinations the inputs may show: a quantized V cache needs flash
attention (LoadSettings refuses it otherwise), so picking one turns flash
attention on, and turning flash attention off puts the cache back to f16.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.cpu_threads import ThreadCounts, default_threads
from lmdesk.core.gpus import GpuInfo
from lmdesk.core.load_settings import KV_CACHE_TYPES, LoadSettings
from lmdesk.ui.kit.offload.gpu_picker import GpuPicker
from lmdesk.ui.kit.offload.split_row import SplitRow
from lmdesk.ui.kit.widgets import muted

CTX_STEP = 256
FALLBACK_MAX_CTX = 32_768  # for a model whose header does not say its trained length

KV_HELP = (
    "Precision of the KV cache, the memory that holds the context. q8_0 halves it "
    "with little loss; a quantized cache needs flash attention."
)
EXPERTS_HELP = (
    "Keep the experts of the first layers in system RAM (llama.cpp's --n-cpu-moe): the "
    "rest of each layer stays on the GPU. A mixture-of-experts model fits a small card "
    "this way much faster than with fewer GPU layers."
)
FLASH_HELP = (
    "Flash attention saves compute memory. Partly checked: Auto (llama.cpp turns it on "
    "where the GPU supports it)."
)

THREADS_HELP = (
    "CPU threads llama.cpp uses (LM Studio's thread pool size). Auto uses {generation} for "
    "writing the reply and {batch} for reading the prompt: one per physical core, less one "
    "while writing, and fewer when other programs keep cores busy, so a browser or a build "
    "beside it cannot stall every thread."
)


def _hidden_note() -> QLabel:
    label = muted("")
    label.hide()
    return label


class OffloadControls(QWidget):
    """The input half of the panel. `changed` fires on every edit by the person."""

    changed = Signal()
    auto_clicked = Signal()
    suggestion_applied = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._n_layer = 0
        self._max_ctx = CTX_STEP
        self._layers_kept = 0
        self.gpu = GpuPicker()
        self.split = SplitRow()
        self.layers = QSlider(Qt.Orientation.Horizontal)
        self.layers.setPageStep(4)
        self.layers_label = QLabel()
        self.layers_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bold = self.layers_label.font()
        bold.setBold(True)
        self.layers_label.setFont(bold)
        self.auto = QPushButton("Auto")
        self.auto.setToolTip(
            "The most layers that fit the chosen GPU with the safety margin left free"
        )
        self.experts = QSlider(Qt.Orientation.Horizontal)
        self.experts.setPageStep(4)
        self.experts.setToolTip(EXPERTS_HELP)
        self.experts_label = QLabel()
        self.experts_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.experts_title = QLabel("Experts on CPU")
        self.experts_title.setToolTip(EXPERTS_HELP)
        self._expert_layers = 0
        self.suggestion = _hidden_note()
        self.suggestion.setTextFormat(Qt.TextFormat.RichText)
        self.ctx = QSlider(Qt.Orientation.Horizontal)
        self.ctx.setMinimum(1)
        self.ctx_label = QLabel()
        self.ctx_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.kv = QComboBox()
        self.kv.addItems(list(KV_CACHE_TYPES))
        self.kv.setToolTip(KV_HELP)
        self.flash = QCheckBox("Flash attention")
        self.flash.setTristate(True)
        self.flash.setToolTip(FLASH_HELP)
        self.threads = _threads_spin(default_threads())
        self.note = _hidden_note()
        self._build_layout()
        self.layers.valueChanged.connect(self._on_layers)
        self.experts.valueChanged.connect(self._on_layers)
        self.ctx.valueChanged.connect(self._on_ctx)
        self.kv.currentTextChanged.connect(self._on_kv)
        self.flash.checkStateChanged.connect(self._on_flash)
        self.threads.valueChanged.connect(self.changed)
        self.gpu.target_changed.connect(self.changed)
        self.split.changed.connect(self.changed)
        self.auto.clicked.connect(self.auto_clicked)
        self.suggestion.linkActivated.connect(lambda _link: self.suggestion_applied.emit())

    def _build_layout(self) -> None:
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(1, 1)
        grid.addWidget(QLabel("Target GPU"), 0, 0, Qt.AlignmentFlag.AlignTop)
        target = QVBoxLayout()  # the picker, and under it the split row (several GPUs)
        target.setSpacing(6)
        target.addWidget(self.gpu)
        target.addWidget(self.split)
        grid.addLayout(target, 0, 1, 1, 2)
        grid.addWidget(QLabel("GPU offload"), 1, 0)
        grid.addWidget(self.layers_label, 1, 1, 1, 2)
        grid.addWidget(self.layers, 2, 0, 1, 2)
        grid.addWidget(self.auto, 2, 2)
        under_layers = QVBoxLayout()  # the experts' row (a MoE model only), Auto's line
        under_layers.setSpacing(6)
        experts_row = QHBoxLayout()
        experts_row.addWidget(self.experts_title)
        experts_row.addWidget(self.experts, 1)
        experts_row.addWidget(self.experts_label)
        under_layers.addLayout(experts_row)
        under_layers.addWidget(self.suggestion)
        grid.addLayout(under_layers, 3, 0, 1, 3)
        self._show_experts(False)
        grid.addWidget(QLabel("Context length"), 4, 0)
        grid.addWidget(self.ctx_label, 4, 1, 1, 2)
        grid.addWidget(self.ctx, 5, 0, 1, 3)
        kv_row = QHBoxLayout()
        kv_row.addWidget(self.kv)
        kv_row.addSpacing(12)
        kv_row.addWidget(self.flash)
        kv_row.addStretch(1)
        grid.addWidget(QLabel("KV cache"), 6, 0)
        grid.addLayout(kv_row, 6, 1, 1, 2)
        threads_row = QHBoxLayout()
        threads_row.addWidget(self.threads)
        threads_row.addStretch(1)
        grid.addWidget(QLabel("CPU threads"), 7, 0)
        grid.addLayout(threads_row, 7, 1, 1, 2)
        grid.addWidget(self.note, 8, 0, 1, 3)

    # -- model and settings -------------------------------------------------
    def set_model(self, *, n_layer: int, n_ctx_train: int, experts: bool = False) -> None:
        """Ranges for a model: 0..n_layer+1 GPU layers, contexts up to the trained length, and
        for a model with experts 0..n_layer layers whose experts stay on the CPU."""
        self._n_layer = n_layer
        self._max_ctx = n_ctx_train if n_ctx_train > 0 else FALLBACK_MAX_CTX
        self._expert_layers = n_layer if experts else 0
        with _Quiet(self.layers, self.ctx, self.experts):
            self.layers.setRange(0, n_layer + 1)
            self.ctx.setRange(1, max(1, self._max_ctx // CTX_STEP))
            self.experts.setRange(0, self._expert_layers)
        self._show_experts(experts)
        self.show_suggestion(None)
        self.note.hide()

    def set_settings(self, settings: LoadSettings) -> None:
        """Show `settings` without emitting `changed`."""
        self._layers_kept = settings.gpu_layers_for(self._n_layer)
        with _Quiet(self.layers, self.ctx, self.kv, self.flash, self.threads, self.experts):
            self.layers.setValue(self._layers_kept if self.layers.isEnabled() else 0)
            self.experts.setValue(min(settings.n_cpu_moe, self._expert_layers))
            self.ctx.setValue(round(min(settings.n_ctx, self._max_ctx) / CTX_STEP))
            self.kv.setCurrentText(settings.type_v)
            self.flash.setCheckState(_FLASH_STATES[settings.flash_attn])
            self.threads.setValue(settings.n_threads or AUTO_THREADS)
        self.split.set_settings(settings)
        self._refresh_labels()

    def settings(self, base: LoadSettings) -> LoadSettings:
        """`base` with what the controls show."""
        flash = {v: k for k, v in _FLASH_STATES.items()}[self.flash.checkState()]
        split_mode, main_gpu = self.split.choice()
        return base.with_changes(
            split_mode=split_mode,
            main_gpu=main_gpu,
            n_gpu_layers=self.layers.value(),
            n_ctx=self.n_ctx(),
            type_k=self.kv.currentText(),
            type_v=self.kv.currentText(),
            flash_attn=flash,
            n_threads=self.threads.value() or None,
            n_cpu_moe=self.experts.value()
            if self._expert_layers and self.experts.isEnabled()
            else 0,
        )

    def n_ctx(self) -> int:
        return min(self.ctx.value() * CTX_STEP, self._max_ctx)

    def set_gpu_available(self, available: bool) -> None:
        """A CPU-only target: the layer slider rests at 0 until a GPU is chosen again."""
        if available != self.layers.isEnabled():
            with _Quiet(self.layers):
                if available:
                    self.layers.setValue(self._layers_kept)
                else:
                    self._layers_kept = self.layers.value()
                    self.layers.setValue(0)
            self.layers.setEnabled(available)
            self.experts.setEnabled(available)
            self.auto.setEnabled(available)
            self._refresh_labels()

    def show_suggestion(self, html: str | None) -> None:
        self.suggestion.setVisible(bool(html))
        if html:
            self.suggestion.setText(html)

    # -- reactions ----------------------------------------------------------
    def _refresh_labels(self) -> None:
        auto = self.flash.checkState() == Qt.CheckState.PartiallyChecked
        self.flash.setText("Flash attention (auto)" if auto else "Flash attention")
        self.layers_label.setText(f"{self.layers.value()} of {self._n_layer + 1} layers")
        self.experts_label.setText(f"{self.experts.value()} of {self._expert_layers} layers")
        self.ctx_label.setText(f"{self.n_ctx():,} (max {self._max_ctx:,})")

    def _on_layers(self, _value: int) -> None:
        self._refresh_labels()
        self.changed.emit()

    def _on_ctx(self, _value: int) -> None:
        self._refresh_labels()
        self.changed.emit()

    def _on_kv(self, name: str) -> None:
        if KV_CACHE_TYPES[name].quantized and self.flash.checkState() == Qt.CheckState.Unchecked:
            with _Quiet(self.flash):
                self.flash.setCheckState(Qt.CheckState.Checked)
            self._say(f"Flash attention turned on: a {name} KV cache needs it.")
        elif not KV_CACHE_TYPES[name].quantized:
            self.note.hide()
        self.changed.emit()

    def _on_flash(self, state: Qt.CheckState) -> None:
        if state == Qt.CheckState.Unchecked and KV_CACHE_TYPES[self.kv.currentText()].quantized:
            old = self.kv.currentText()
            with _Quiet(self.kv):
                self.kv.setCurrentText("f16")
            self._say(f"KV cache back to f16: without flash attention it cannot be {old}.")
        self._refresh_labels()
        self.changed.emit()

    def set_gpus(self, gpus: tuple[GpuInfo, ...]) -> None:
        """The GPUs the plan is for: the split row shows for two or more."""
        self.split.set_gpus(gpus)

    def _show_experts(self, visible: bool) -> None:
        for widget in (self.experts_title, self.experts, self.experts_label):
            widget.setVisible(visible)

    def _say(self, text: str) -> None:
        self.note.setText(text)
        self.note.show()


AUTO_THREADS = 0
"""The spin box's lowest value, shown as "Auto (N)": `LoadSettings.n_threads` None."""


def _threads_spin(auto: ThreadCounts) -> QSpinBox:
    """0 is Auto (the core's default, shown); 1 up to the machine's logical CPUs."""
    spin = QSpinBox()
    spin.setRange(AUTO_THREADS, max(os.cpu_count() or 1, auto.batch))
    spin.setSpecialValueText(f"Auto ({auto.generation})")
    spin.setToolTip(THREADS_HELP.format(generation=auto.generation, batch=auto.batch))
    return spin


_FLASH_STATES: dict[bool | None, Qt.CheckState] = {
    True: Qt.CheckState.Checked,
    False: Qt.CheckState.Unchecked,
    None: Qt.CheckState.PartiallyChecked,
}


class _Quiet:
    """Block the signals of some widgets for the duration of a `with` block."""

    def __init__(self, *widgets: QWidget) -> None:
        self._widgets = widgets

    def __enter__(self) -> None:
        self._was = [w.blockSignals(True) for w in self._widgets]

    def __exit__(self, *exc: object) -> None:
        for widget, was in zip(self._widgets, self._was, strict=True):
            widget.blockSignals(was)
