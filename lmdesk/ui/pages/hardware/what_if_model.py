"""The what-if cards as a table: a person without that GPU can still plan for it.

A pair (`WhatIfGroup`) is one row: its memory is the sum of its cards', and what
is left after the margin is counted per card (the margin is kept on each GPU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from lmdesk.core.units import format_size

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuInfo, WhatIfGroup

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Card", "Memory", "Free for models", "After safety margin")


class WhatIfModel(QAbstractTableModel):
    """Rows: cards; columns: name, total memory, free before loading, free after the margin."""

    def __init__(self, cards: Sequence[GpuInfo | WhatIfGroup], margin_bytes: int) -> None:
        super().__init__()
        self._cards = list(cards)
        self._margin = margin_bytes

    def set_margin(self, margin_bytes: int) -> None:
        self._margin = margin_bytes
        if self._cards:
            self.dataChanged.emit(self.index(0, 3), self.index(len(self._cards) - 1, 3))

    def card(self, row: int) -> GpuInfo | WhatIfGroup:
        return self._cards[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._cards)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._cards):
            return None
        card = self._cards[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(card, column)
        if role == Qt.ItemDataRole.UserRole:
            return (card.name, _total(card), _free(card), self._usable(card))[column]
        if role == Qt.ItemDataRole.TextAlignmentRole and column > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return None

    def _usable(self, card: GpuInfo | WhatIfGroup) -> int:
        return sum(max(gpu.usable_bytes - self._margin, 0) for gpu in _gpus(card))

    def _text(self, card: GpuInfo | WhatIfGroup, column: int) -> str:
        if column == 0:
            return card.name
        if column == 1:
            return f"{_total(card) / 1024**3:.0f} GB"
        if column == 2:
            return format_size(_free(card))
        return format_size(self._usable(card))


def _gpus(card: GpuInfo | WhatIfGroup) -> tuple[GpuInfo, ...]:
    from lmdesk.core.gpus.cards import WhatIfGroup

    return card.cards if isinstance(card, WhatIfGroup) else (card,)


def _total(card: GpuInfo | WhatIfGroup) -> int:
    return sum(gpu.total_bytes for gpu in _gpus(card))


def _free(card: GpuInfo | WhatIfGroup) -> int:
    return sum(gpu.free_bytes for gpu in _gpus(card))
