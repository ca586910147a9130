"""Hardware: the GPUs and their memory now, system RAM, the llama.cpp build, what-if cards.

Readings arrive through the app's signals (`gpu_probe` every ~2 s,
`llama_build` once); the page never polls NVML or loads llama.cpp itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHeaderView,
    QScrollArea,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from lmdesk.ui.kit.widgets import Card, heading, muted
from lmdesk.ui.pages.hardware.cards import BuildCard, GpuCard, NoGpuCard, RamCard
from lmdesk.ui.pages.hardware.what_if_model import WhatIfModel
from lmdesk.ui.pages.hardware.workers import WorkersCard
from lmdesk.ui.services.context import AppContext

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuProbe, LlamaBuild
    from lmdesk.core.settings import Settings


class HardwarePage(QScrollArea):
    """Scrolls when the window is small; cards on top, the what-if table below."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        from lmdesk.core.gpus import WHAT_IF_CARDS, WHAT_IF_PAIRS

        super().__init__(parent)
        self.setObjectName("hardwarePage")
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self._context = context
        self._gpu_cards: list[QWidget] = []
        self.ram_card = RamCard()
        self.build_card = BuildCard()
        self.what_if = WhatIfModel(
            (*WHAT_IF_CARDS, *WHAT_IF_PAIRS), context.settings.settings.gpu_safety_margin_bytes
        )
        self.table = self._make_table()

        body = QWidget()
        body.setObjectName("hardwareBody")
        self._gpu_column = QVBoxLayout()
        self._gpu_column.setSpacing(12)
        grid = QGridLayout()
        grid.setSpacing(14)
        grid.addLayout(self._gpu_column, 0, 0)
        grid.addWidget(self.ram_card, 0, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.build_card, 1, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        what_if_card = Card()
        what_if_card.box.addWidget(heading("Plan for another card", scale=1.15))
        what_if_card.box.addWidget(
            muted(
                "These what-if cards can be chosen wherever a GPU is picked, to see whether a "
                "model would fit a card you are thinking of buying."
            )
        )
        what_if_card.box.addWidget(self.table)
        grid.addWidget(what_if_card, 2, 0, 1, 2)
        self.workers = WorkersCard(context.settings, context.workers)
        grid.addWidget(self.workers, 3, 0, 1, 2)

        column = QVBoxLayout(body)
        column.setContentsMargins(28, 22, 28, 22)
        column.setSpacing(14)
        column.addWidget(heading("Hardware", scale=1.6))
        column.addWidget(muted("What this computer can run models on, read every two seconds."))
        column.addLayout(grid)
        column.addStretch(1)
        self.setWidget(body)

        signals = context.signals
        signals.gpu_probe.connect(self.set_probe)
        signals.llama_build.connect(self.set_build)
        context.settings.changed.connect(self._settings_changed)
        self.set_probe(context.latest_probe)
        if context.llama_build is not None:
            self.set_build(context.llama_build)
        self.refresh_memory()

    def _make_table(self) -> QTableView:
        table = QTableView()
        table.setModel(self.what_if)
        table.verticalHeader().hide()
        table.setShowGrid(False)
        table.setAlternatingRowColors(True)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setDefaultSectionSize(26)
        header = table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, self.what_if.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        rows = self.what_if.rowCount()
        table.setMinimumHeight(
            header.sizeHint().height() + rows * table.verticalHeader().defaultSectionSize() + 4
        )
        return table

    @property
    def gpu_cards(self) -> list[QWidget]:
        return list(self._gpu_cards)

    def set_probe(self, probe: GpuProbe | None) -> None:
        """Show `probe`'s GPUs: update the cards in place when the GPUs are the same ones."""
        if probe is None:
            return
        gpus = [g for g in probe.gpus if not g.is_what_if]
        same = len(gpus) == len(self._gpu_cards) and all(
            isinstance(card, GpuCard) for card in self._gpu_cards
        )
        if same and gpus:
            for card, gpu in zip(self._gpu_cards, gpus, strict=True):
                assert isinstance(card, GpuCard)
                card.update_gpu(gpu)
        else:
            for card in self._gpu_cards:
                self._gpu_column.removeWidget(card)
                card.hide()
                card.deleteLater()
            self._gpu_cards = (
                [GpuCard(gpu) for gpu in gpus] if gpus else [NoGpuCard(probe.reason or "")]
            )
            for card in self._gpu_cards:
                self._gpu_column.addWidget(card)
            if self._context.llama_build is not None:  # the CUDA hint depends on the GPUs
                self.build_card.update_build(self._context.llama_build, probe)
        self.refresh_memory()

    def set_build(self, build: LlamaBuild) -> None:
        self.build_card.update_build(build, self._context.latest_probe)

    def refresh_memory(self) -> None:
        from lmdesk.core.gpus import system_memory

        self.ram_card.update_memory(system_memory())

    def shutdown(self) -> None:
        """Let a worker still being asked answer (its probe ends within its own timeout)."""
        self.workers.wait()

    def _settings_changed(self, settings: Settings) -> None:
        self.what_if.set_margin(settings.gpu_safety_margin_bytes)


def create_page(context: AppContext) -> HardwarePage:
    return HardwarePage(context)
