"""The Load panel's row for several GPUs: how they share the model, and the main GPU.

Shown only when the plan has two or more GPUs (real ones, "All GPUs", or a what-if pair).
The words follow what the bundled llama.cpp really does (`core.estimate.row_split`):
"By layer" gives each GPU whole layers; "Main GPU only" puts every offloaded layer on the
main GPU (llama.cpp reads ``main_gpu`` only then, so the main GPU choice is enabled only
then); "By row" needs split buffers, which this llama.cpp has for no NVIDIA (CUDA) or RPC
device, so it is offered disabled, with the reason as its tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from lmdesk.core.estimate.row_split import ROW_REFUSED
from lmdesk.core.gpus import GpuInfo
from lmdesk.core.load_settings import LoadSettings

SPLIT_CHOICES = (
    ("By layer", "layer"),
    ("By row", "row"),
    ("Main GPU only", "none"),
)
SPLIT_HELP = (
    "How the GPUs share the model. By layer: each GPU holds whole layers and their KV "
    "cache, in proportion to its free memory. Main GPU only: every offloaded layer on the "
    "main GPU, the others unused."
)
ROW_HELP = f"By row is not available: {ROW_REFUSED}."
MAIN_HELP = "The GPU that holds the model with Split: Main GPU only (llama.cpp's --main-gpu)."
MAIN_IDLE_HELP = (
    "llama.cpp uses the main GPU only with Split: Main GPU only; split by layer, the layers "
    "go to every GPU by the split."
)


class SplitRow(QWidget):
    """Split: [By layer | By row | Main GPU only]   Main GPU: [GPU 0 · name]."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mode = "layer"
        self._main = 0
        self._n_gpus = 0
        self.mode = QComboBox()
        for text, key in SPLIT_CHOICES:
            self.mode.addItem(text, key)
        self.mode.setToolTip(SPLIT_HELP)
        self.main = QComboBox()
        self.main_label = QLabel("Main GPU")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(QLabel("Split"))
        layout.addWidget(self.mode, 1)
        layout.addSpacing(4)
        layout.addWidget(self.main_label)
        layout.addWidget(self.main, 1)
        self.set_row_available(False)
        self.mode.activated.connect(self._on_mode)
        self.main.activated.connect(self._on_main)
        self.hide()

    # -- inputs -------------------------------------------------------------
    def set_gpus(self, gpus: tuple[GpuInfo, ...]) -> None:
        """The plan's GPUs: two or more show the row and name the main GPU's choices."""
        names = [f"GPU {i} · {g.name.removeprefix('NVIDIA ')}" for i, g in enumerate(gpus)]
        if names != [self.main.itemText(i) for i in range(self.main.count())]:
            self.main.blockSignals(True)
            self.main.clear()
            self.main.addItems(names)
            self.main.blockSignals(False)
        self._n_gpus = len(gpus)
        self.setVisible(len(gpus) > 1)
        self._refresh()

    def set_row_available(self, available: bool) -> None:
        """Whether the GPUs' llama.cpp backend has split buffers ("By row")."""
        model = self.mode.model()
        assert isinstance(model, QStandardItemModel)
        item = model.item(self.mode.findData("row"))
        item.setEnabled(available)
        item.setToolTip("" if available else ROW_HELP)

    def set_settings(self, settings: LoadSettings) -> None:
        """Show `settings`' split without emitting `changed`."""
        self._mode, self._main = settings.split_mode, settings.main_gpu
        self._refresh()

    # -- outputs ------------------------------------------------------------
    def choice(self) -> tuple[str, int]:
        """(split mode, main GPU) for `LoadSettings`: llama.cpp's defaults with one GPU."""
        if self._n_gpus < 2:
            return "layer", 0
        return self._mode, min(self._main, self._n_gpus - 1)

    # -- internals ----------------------------------------------------------
    def _refresh(self) -> None:
        for widget in (self.mode, self.main):
            widget.blockSignals(True)
        self.mode.setCurrentIndex(max(self.mode.findData(self._mode), 0))
        if self.main.count():
            self.main.setCurrentIndex(min(self._main, self.main.count() - 1))
        for widget in (self.mode, self.main):
            widget.blockSignals(False)
        used = self._mode == "none"
        self.main.setEnabled(used)
        self.main_label.setEnabled(used)
        self.main.setToolTip(MAIN_HELP if used else MAIN_IDLE_HELP)
        self.main_label.setToolTip(self.main.toolTip())

    def _on_mode(self, index: int) -> None:
        self._mode = str(self.mode.itemData(index))
        self._refresh()
        self.changed.emit()

    def _on_main(self, index: int) -> None:
        self._main = index
        self._refresh()
        self.changed.emit()


__all__ = ["SPLIT_CHOICES", "SplitRow"]
