"""Which GPU to plan for: detected cards first, then what-if cards, then a custom size.

"Custom size…" opens an inline size box under the combo (no modal dialog). A
choice is kept across GPU polls: `set_probe` refreshes readings in place.

Remote workers (`lmdesk worker`, on the Hardware page) add one choice, "This machine + N
workers": the local GPUs, then every reachable worker's devices, in llama.cpp's order.
A worker that cannot be reached is listed below it, greyed out, and left out of plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.counted import counted
from lmdesk.core.gpus import (
    WHAT_IF_CARDS,
    WHAT_IF_PAIRS,
    GpuInfo,
    GpuProbe,
    custom_card,
    find_what_if,
    find_what_if_group,
)
from lmdesk.core.load_plan import WORKERS_TARGET
from lmdesk.core.units import GiB, format_size

if TYPE_CHECKING:
    from lmdesk.core.estimate import RemoteDevice

CPU_ONLY = "cpu"
CUSTOM = "custom…"
ALL_GPUS = "all-gpus"
"""The key of "All N GPUs", offered when the probe finds two or more."""
WORKERS = WORKERS_TARGET
"""The key of "This machine + N workers", offered when a worker answers (remembered as such
per model: `core.load_plan` then loads over the workers)."""
REMOTE_PREFIX = "rpc:"
"""How a worker's device is told from a local card: its `GpuInfo.uuid` starts with this."""


def gpu_label(gpu: GpuInfo) -> str:
    if gpu.is_what_if:
        return f"{gpu.name} (what-if)"
    name = gpu.name.removeprefix("NVIDIA ")  # every detected card is one; keep the combo short
    return f"{name} · {format_size(gpu.usable_bytes)} free"


def remote_gpu(device: RemoteDevice) -> GpuInfo:
    """A worker's device as a card the panel can plan and draw: its memory as it reported it
    (what it does not offer counts as used by others)."""
    reported = device.device
    return GpuInfo(
        index=reported.index,
        name=device.name,
        total_bytes=reported.total_bytes,
        free_bytes=reported.free_bytes,
        used_bytes=reported.total_bytes - reported.free_bytes,
        used_by_others_bytes=max(0, reported.total_bytes - reported.free_bytes),
        utilization_percent=None,
        driver_version="",
        cuda_version="",
        uuid=f"{REMOTE_PREFIX}{device.endpoint}#{reported.index}",
    )


def is_remote(gpu: GpuInfo) -> bool:
    return gpu.uuid.startswith(REMOTE_PREFIX)


def endpoint_of(gpu: GpuInfo) -> str:
    """The worker's host:port of a remote device ('' for a local card)."""
    return gpu.uuid.removeprefix(REMOTE_PREFIX).rpartition("#")[0] if is_remote(gpu) else ""


def _workers_label(local: tuple[GpuInfo, ...], remote: tuple[GpuInfo, ...]) -> str:
    count = len({endpoint_of(g) for g in remote})
    free = format_size(sum(gpu.usable_bytes for gpu in (*local, *remote)))
    return f"This machine + {counted(count, 'worker')} · {free} free"


def _all_label(gpus: tuple[GpuInfo, ...]) -> str:
    free = format_size(sum(gpu.usable_bytes for gpu in gpus))
    return f"All {len(gpus)} GPUs · {free} free"


class GpuPicker(QWidget):
    """A combo of planning targets; `current_gpus()` are the chosen GPUs (none: CPU only),
    `current()` the first of them (the main GPU) or None."""

    target_changed = Signal()
    """The person picked another target (not emitted by `set_probe` or `select`)."""

    def __init__(self, parent: QWidget | None = None, *, several: bool = True) -> None:
        """`several` False lists single cards only ("All GPUs" and the what-if pairs are
        left out), for verdicts that plan one card."""
        super().__init__(parent)
        self._several = several
        self._cards: dict[str, tuple[GpuInfo, ...]] = {}
        self._custom: dict[str, GpuInfo] = {}
        self._detected: tuple[GpuInfo, ...] = ()
        self._remote: tuple[GpuInfo, ...] = ()
        self._unreachable: dict[str, str] = {}
        self._previous = CPU_ONLY
        self.combo = QComboBox()
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(14)
        self.custom_size = QDoubleSpinBox()
        self.custom_size.setRange(0.5, 1024.0)
        self.custom_size.setDecimals(1)
        self.custom_size.setSingleStep(1.0)
        self.custom_size.setValue(8.0)
        self.custom_size.setSuffix(" GiB")
        self.custom_use = QPushButton("Use")
        self.custom_cancel = QPushButton("Cancel")
        self.custom_row = QWidget()
        row = QHBoxLayout(self.custom_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Card memory"))
        row.addWidget(self.custom_size, 1)
        row.addWidget(self.custom_use)
        row.addWidget(self.custom_cancel)
        self.custom_row.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.combo)
        layout.addWidget(self.custom_row)
        self._rebuild(CPU_ONLY)
        self.combo.activated.connect(self._on_activated)
        self.custom_use.clicked.connect(self._use_custom)
        self.custom_size.editingFinished.connect(self._use_custom_on_enter)
        self.custom_cancel.clicked.connect(self._cancel_custom)

    # -- public -------------------------------------------------------------
    def current_key(self) -> str:
        """The chosen target's id; while a custom size is being typed, the previous one."""
        key = str(self.combo.currentData())
        return self._previous if key == CUSTOM else key

    def current(self) -> GpuInfo | None:
        gpus = self.current_gpus()
        return gpus[0] if gpus else None

    def current_gpus(self) -> tuple[GpuInfo, ...]:
        """Every GPU the chosen target plans over, in llama.cpp's device order."""
        return self._cards.get(self.current_key(), ())

    def keys(self) -> list[str]:
        return [
            str(self.combo.itemData(i)) for i in range(self.combo.count()) if self.combo.itemData(i)
        ]

    def detected(self) -> tuple[GpuInfo, ...]:
        return self._detected

    def current_workers(self) -> tuple[str, ...]:
        """The workers (host:port) the chosen target places layers on, in order."""
        endpoints = (endpoint_of(g) for g in self.current_gpus() if is_remote(g))
        return tuple(dict.fromkeys(endpoints))

    def unreachable(self) -> dict[str, str]:
        """Workers that could not be asked (endpoint -> why); never in a plan."""
        return dict(self._unreachable)

    def set_workers(self, devices: Sequence[RemoteDevice], unreachable: Mapping[str, str]) -> None:
        """The reachable workers' devices and the others' reasons (from `WorkerFeed`)."""
        if not self._several:
            return
        self._remote = tuple(remote_gpu(d) for d in devices)
        self._unreachable = dict(unreachable)
        key = self.current_key()
        if key == WORKERS and not self._remote:
            key = self._detected[0].uuid if self._detected else CPU_ONLY
        self._rebuild(key)

    def set_probe(self, probe: GpuProbe) -> None:
        """New readings: keep the choice if that card is still there, else the first GPU."""
        real = tuple(gpu for gpu in probe.gpus if not gpu.is_what_if)
        key = self.current_key()
        same_cards = [g.uuid for g in real] == [g.uuid for g in self._detected]
        self._detected = real
        if same_cards:
            for gpu in real:
                self._cards[gpu.uuid] = (gpu,)
                self.combo.setItemText(self.combo.findData(gpu.uuid), gpu_label(gpu))
            if len(real) > 1 and self._several:
                self._cards[ALL_GPUS] = real
                self.combo.setItemText(self.combo.findData(ALL_GPUS), _all_label(real))
            if self._remote:
                self._cards[WORKERS] = (*real, *self._remote)
                self.combo.setItemText(
                    self.combo.findData(WORKERS), _workers_label(real, self._remote)
                )
            return
        if (key == ALL_GPUS and len(real) > 1) or (key == WORKERS and self._remote):
            pass
        elif key not in {g.uuid for g in real} and not key.startswith("what-if:"):
            key = real[0].uuid if real else CPU_ONLY
        self._rebuild(key)

    def select(self, key: str | None) -> bool:
        """Choose the target remembered as `key` (a uuid, a what-if id or None: CPU only)."""
        key = key or CPU_ONLY
        group = find_what_if_group(key) if self._several else None
        if group is not None:
            key = group.uuid
        elif key not in self._cards and key != CPU_ONLY:
            card = find_what_if(key)
            if card is None:
                return False
            if card.uuid not in self._cards:
                self._custom[card.uuid] = card
                self._rebuild(card.uuid)
            key = card.uuid
        index = self.combo.findData(key)
        if index < 0:
            return False
        self.combo.setCurrentIndex(index)
        self._previous = key
        return True

    def add_custom(self, total_bytes: int) -> GpuInfo:
        """Add (or reuse) a custom what-if card of `total_bytes`, select it, and say so."""
        card = custom_card(total_bytes)
        self._custom[card.uuid] = card
        self._rebuild(card.uuid)
        self.custom_row.hide()
        self._previous = card.uuid
        self.target_changed.emit()
        return card

    # -- internals ----------------------------------------------------------
    def _rebuild(self, key: str) -> None:
        self.combo.blockSignals(True)
        self.combo.clear()
        self._cards = {}
        for gpu in self._detected:
            self._add(gpu.uuid, gpu_label(gpu), (gpu,))
        if len(self._detected) > 1 and self._several:
            self._add(ALL_GPUS, _all_label(self._detected), self._detected)
        if not self._detected:
            self.combo.addItem("None · CPU only", CPU_ONLY)
        self._add_workers()
        self.combo.insertSeparator(self.combo.count())
        for card in (*WHAT_IF_CARDS, *self._custom.values()):
            self._add(card.uuid, gpu_label(card), (card,))
        for group in WHAT_IF_PAIRS if self._several else ():
            self._add(group.uuid, f"{group.name} (what-if)", group.cards)
        self.combo.insertSeparator(self.combo.count())
        self.combo.addItem("Custom size…", CUSTOM)
        index = self.combo.findData(key)
        self.combo.setCurrentIndex(max(index, 0))
        self._previous = self.current_key()
        self.combo.blockSignals(False)

    def _add_workers(self) -> None:
        if self._remote:
            devices = (*self._detected, *self._remote)
            self._add(WORKERS, _workers_label(self._detected, self._remote), devices)
        model = self.combo.model()
        for endpoint, why in self._unreachable.items():
            self.combo.addItem(f"{endpoint} · unreachable", None)
            index = self.combo.count() - 1
            self.combo.setItemData(index, why, Qt.ItemDataRole.ToolTipRole)
            if isinstance(model, QStandardItemModel):
                item = model.item(index)
                if item is not None:
                    item.setEnabled(False)

    def _add(self, key: str, text: str, gpus: tuple[GpuInfo, ...]) -> None:
        self._cards[key] = gpus
        self.combo.addItem(text, key)

    def _on_activated(self, index: int) -> None:
        key = str(self.combo.itemData(index))
        if key == CUSTOM:
            self.custom_row.show()
            self.custom_size.setFocus()
            self.custom_size.selectAll()
            return
        self.custom_row.hide()
        if key != self._previous:
            self._previous = key
            self.target_changed.emit()

    def _use_custom(self) -> None:
        self.add_custom(round(self.custom_size.value() * GiB))

    def _use_custom_on_enter(self) -> None:
        if self.custom_row.isVisible() and self.custom_size.hasFocus():
            self._use_custom()

    def _cancel_custom(self) -> None:
        self.custom_row.hide()
        self.combo.setCurrentIndex(max(self.combo.findData(self._previous), 0))
