"""The Hardware page's cards: one per GPU (or why there is none), system RAM, llama.cpp build."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from lmdesk.core.units import format_size
from lmdesk.ui.kit.theme import VERDICT_COLORS
from lmdesk.ui.kit.widgets import Card, heading, muted, secondary_button, set_fraction, usage_bar

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuInfo, GpuProbe, LlamaBuild, SystemMemory

NO_GPU_TEXT = (
    "Models run on the CPU. You can still plan for a GPU you do not have: "
    "the cards in the table below work everywhere a GPU can be chosen."
)


def gpu_lines(gpu: GpuInfo) -> tuple[str, str]:
    """Identity line and memory line for one GPU."""
    identity = [f"GPU {gpu.index}"]
    if gpu.driver_version:
        identity.append(f"driver {gpu.driver_version}")
    if gpu.cuda_version:
        identity.append(f"CUDA {gpu.cuda_version}")
    busy = "" if gpu.utilization_percent is None else f" · {gpu.utilization_percent}% busy"
    memory = (
        f"{format_size(gpu.free_bytes)} free of {format_size(gpu.total_bytes)}"
        f" · {format_size(gpu.used_bytes)} used{busy}"
    )
    return " · ".join(identity), memory


class GpuCard(Card):
    """One GPU: name, driver and CUDA version, memory bar, utilisation."""

    def __init__(self, gpu: GpuInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = heading(gpu.name, scale=1.15)
        self.identity = muted("")
        self.memory = QLabel()
        self.bar = usage_bar()
        for widget in (self.title, self.identity, self.bar, self.memory):
            self.box.addWidget(widget)
        self.update_gpu(gpu)

    def update_gpu(self, gpu: GpuInfo) -> None:
        identity, memory = gpu_lines(gpu)
        self.title.setText(gpu.name)
        self.identity.setText(identity)
        self.memory.setText(memory)
        set_fraction(self.bar, gpu.used_bytes, gpu.total_bytes)


class NoGpuCard(Card):
    def __init__(self, reason: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = heading("No NVIDIA GPU found", scale=1.15)
        self.reason = muted(reason[:1].upper() + reason[1:])
        self.box.addWidget(self.title)
        self.box.addWidget(self.reason)
        self.box.addWidget(muted(NO_GPU_TEXT))


class RamCard(Card):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.box.addWidget(heading("System memory", scale=1.15))
        self.box.addWidget(muted("Layers that do not fit on the GPU run from here."))
        self.bar = usage_bar("#64748b")
        self.text = QLabel()
        self.box.addWidget(self.bar)
        self.box.addWidget(self.text)

    def update_memory(self, memory: SystemMemory) -> None:
        used = memory.total_bytes - memory.available_bytes
        set_fraction(self.bar, used, memory.total_bytes)
        self.text.setText(
            f"{format_size(memory.available_bytes)} available of "
            f"{format_size(memory.total_bytes)} · {format_size(used)} in use"
        )


def offload_words(build: LlamaBuild) -> str:
    """What the build can do with GPU layers, in words."""
    if build.has_cuda:
        return "layers can run on NVIDIA GPUs"
    if build.gpu_offload and "RPC" in build.backends:
        return "no local GPU backend; layers can go to llama.cpp RPC servers"
    if build.gpu_offload:
        return "layers can run on a GPU"
    return "everything runs on the CPU"


def _chip(text: str, color: str) -> QLabel:
    chip = QLabel(text)
    chip.setStyleSheet(
        f"background: {color}; color: white; border-radius: 9px; padding: 2px 10px;"
        " font-weight: 600;"
    )
    return chip


class BuildCard(Card):
    """llama.cpp's version and backends; the CUDA install command when a GPU sits idle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = heading("llama.cpp", scale=1.15)
        self.summary = muted("Looking at the installed llama.cpp…")
        self.chips = QHBoxLayout()
        self.chips.setSpacing(6)
        self.hint_box = QFrame()
        self.hint_box.setObjectName("cudaHint")
        self.hint_box.setStyleSheet(
            "#cudaHint { background: #fffbeb; border: 1px solid #fde68a; border-radius: 8px; }"
            "#cudaHint QLabel { color: #78350f; background: transparent; }"
        )
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.command.setStyleSheet("background: white; color: #111827; padding: 4px;")
        self.copy_button = secondary_button("Copy")
        self.copy_button.clicked.connect(self._copy)
        command_row = QHBoxLayout()
        command_row.addWidget(self.command, 1)
        command_row.addWidget(self.copy_button)
        hint_layout = QVBoxLayout(self.hint_box)
        hint_layout.setContentsMargins(12, 10, 12, 10)
        hint_layout.addWidget(self.hint)
        hint_layout.addLayout(command_row)
        for widget in (self.title, self.summary):
            self.box.addWidget(widget)
        self.box.addLayout(self.chips)
        self.box.addWidget(self.hint_box)
        self.hint_box.hide()

    def update_build(self, build: LlamaBuild, probe: GpuProbe | None) -> None:
        from lmdesk.core.gpus import GpuProbe, cuda_install_hint

        self.title.setText(f"llama.cpp {build.version} · {build.label}")
        self.summary.setText(f"llama-cpp-python {build.version}: {offload_words(build)}. Backends:")
        while self.chips.count():
            item = self.chips.takeAt(0)
            chip = item.widget() if item is not None else None
            if chip is not None:
                chip.hide()  # gone now, not only once deleteLater runs
                chip.deleteLater()
        for backend in build.backends or ("none found",):
            color = VERDICT_COLORS["fits"].name() if backend == "CUDA" else "#64748b"
            self.chips.addWidget(_chip(backend, color))
        self.chips.addStretch(1)
        hint = cuda_install_hint(build, probe or GpuProbe(gpus=()))
        self.set_hint(hint)

    def set_hint(self, hint: str | None) -> None:
        if not hint:
            self.hint_box.hide()
            return
        sentence, _, command = hint.rpartition("\n")
        self.hint.setText(sentence)
        self.command.setText(command)
        self.command.setCursorPosition(0)
        self.hint_box.show()

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.command.text())
