"""Compare cards: one model on every what-if card (and the real ones), as a table.

Non-modal (`show()`), so Discover and My Models stay usable beside it; it lives
in the kit so both pages open the same dialog without importing each other.
The CPU's rates may need measuring first (`kit.cpu_rates`, a worker thread);
the table fills in when they are known. Exports: CSV and PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QCoreApplication,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.cpu_threads import threads_for
from lmdesk.core.estimate.projector import ProjectorInfo
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.gpus import WHAT_IF_CARDS, GpuInfo
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed import CpuSpeed, model_work
from lmdesk.core.speed.compare import HEADERS, CardRow, compare_cards, row_cells, to_csv
from lmdesk.core.speed.words import rate
from lmdesk.ui.kit.cpu_rates import cpu_rates
from lmdesk.ui.kit.widgets import heading, muted, secondary_button
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.errors import show_error

Index = QModelIndex | QPersistentModelIndex


class CardsModel(QAbstractTableModel):
    """`CardRow`s as a table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[CardRow] = []

    def set_rows(self, rows: list[CardRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rows(self) -> list[CardRow]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return row_cells(self._rows[index.row()])[index.column()]
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        return None


class CompareCardsDialog(QDialog):
    """The table for one model, with its CPU-only speed above it and the exports below."""

    def __init__(
        self,
        model: ModelInfo,
        settings: LoadSettings,
        *,
        margin: int,
        real_gpus: tuple[GpuInfo, ...] = (),
        projector: ProjectorInfo | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._projector = projector
        self.setModal(False)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setWindowTitle(f"Compare cards — {model.name}")
        self.resize(720, 560)
        self._model, self._settings, self._margin = model, settings, margin
        self._cards = (*real_gpus, *WHAT_IF_CARDS)
        self._cpu: CpuSpeed | None = None
        self.table_model = CardsModel(self)
        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.summary = muted("Measuring this CPU's speed…")
        self.csv_button = secondary_button("Export CSV…")
        self.png_button = secondary_button("Save PNG…")
        self.close_button = secondary_button("Close")
        layout = QVBoxLayout(self)
        layout.addWidget(heading(model.name, scale=1.2))
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.csv_button)
        buttons.addWidget(self.png_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.csv_button.clicked.connect(lambda: self._ask_path("CSV (*.csv)", self.export_csv))
        self.png_button.clicked.connect(lambda: self._ask_path("PNG (*.png)", self.save_png))
        self.close_button.clicked.connect(self.close)
        self._set_exports_enabled(False)
        work = model_work(model)
        self._kind, self._heads = work.main_type, work.head_dim
        self._threads = threads_for(settings.n_threads)
        cpu_rates().sig_ready.connect(self._ask_rates)
        cpu_rates().sig_failed.connect(self._on_probe_failed)
        self._ask_rates()

    def _ask_rates(self, *_args: object) -> None:
        if self._cpu is None:
            cpu = cpu_rates().get(self._kind, self._threads, self._heads)
            if cpu is not None:
                self._on_cpu(cpu)

    def _on_probe_failed(self, message: str) -> None:
        if self._cpu is None:
            self.summary.setText(f"Cannot measure this CPU: {message}")

    def _set_exports_enabled(self, enabled: bool) -> None:
        self.csv_button.setEnabled(enabled)
        self.png_button.setEnabled(enabled)

    def _on_cpu(self, cpu: CpuSpeed) -> None:
        self._cpu = cpu
        rows = compare_cards(
            self._model,
            self._settings,
            cpu,
            self._cards,
            margin=self._margin,
            projector=self._projector,
        )
        self.table_model.set_rows(rows)
        cpu_only = rows[0].prediction.cpu_only_generation_tps if rows else 0.0
        self.summary.setText(
            f"CPU only: ≈ {rate(cpu_only)} tok/s on {cpu.threads.generation} thread(s). "
            f"Context {self._settings.n_ctx:,}, {self._settings.type_k} KV, "
            "layers as Auto fits them. Predicted, not measured."
        )
        self._set_exports_enabled(True)

    def rows(self) -> list[CardRow]:
        return self.table_model.rows()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """Wait for the CPU's rates (tests and scripts; the window never waits)."""
        cpu_rates().wait(timeout_s)
        QCoreApplication.processEvents()
        return self._cpu is not None

    def export_csv(self, path: str | Path) -> Path:
        rows = self.rows()
        if not rows:
            raise RuntimeError("the table is not ready yet")
        target = Path(path)
        target.write_text(
            to_csv(rows, cpu_only_tps=rows[0].prediction.cpu_only_generation_tps),
            encoding="utf-8",
        )
        return target

    def save_png(self, path: str | Path) -> Path:
        target = Path(path)
        if not self.grab().save(str(target), "PNG"):
            raise OSError(f"cannot write {target}")
        return target

    def _ask_path(self, kind: str, save: Any) -> None:
        dialog = QFileDialog(self, "Save as", "", kind)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix(kind.split("*.")[1].rstrip(")"))
        dialog.fileSelected.connect(lambda path: self._save(save, path))
        dialog.open()

    def _save(self, save: Any, path: str) -> None:
        try:
            save(path)
        except (OSError, RuntimeError) as exc:
            show_error(self, f"Could not save {path}: {exc}")


def open_compare_cards(
    model: ModelInfo,
    context: AppContext,
    parent: QWidget,
    *,
    projector: ProjectorInfo | None = None,
) -> CompareCardsDialog:
    """Open the dialog for `model` with the app's load defaults, margin and detected GPUs,
    counting the vision `projector` it is loaded with (None: none)."""
    from lmdesk.core.load_plan import default_load_settings

    settings = context.settings.settings
    probe = context.latest_probe
    dialog = CompareCardsDialog(
        model,
        default_load_settings(settings.load, n_ctx_train=model.n_ctx_train),
        margin=settings.gpu_safety_margin_bytes,
        real_gpus=probe.gpus if probe is not None else (),
        projector=projector,
        parent=parent,
    )
    dialog.show()
    return dialog
