"""The Load panel's outputs: GPU and RAM bars, the verdict, hints and a short help."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from lmdesk.core.estimate import Verdict
from lmdesk.ui.kit.offload.memory_bar import MemoryBar
from lmdesk.ui.kit.offload.verdict_box import VerdictBox
from lmdesk.ui.kit.theme import SPACING
from lmdesk.ui.kit.widgets import muted

HELP_LINK = '<a href="help">(?) What is GPU offload?</a>'
HELP_TEXT = (
    "Layers on the GPU run much faster. Layers that do not fit stay in system RAM "
    "and run on the CPU. The context (KV cache) of each GPU layer lives on the GPU too."
)


def _wrapped(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


class OffloadView(QWidget):
    """Shows a plan: the bars, the verdict box, and when needed a notice or the CUDA hint."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gpu_bar = MemoryBar("GPU memory")
        self.gpu_bars: list[MemoryBar] = [self.gpu_bar]
        """One bar per GPU of the plan, in its order; `gpu_bar` is the first."""
        self.no_gpu = muted("")
        self.no_gpu.hide()
        self.ram_bar = MemoryBar("System RAM")
        self.verdict = VerdictBox()
        self.cuda_hint = self._hint_box()
        self.help_link = QLabel(HELP_LINK)
        self.help_link.setToolTip(HELP_TEXT)
        self.help_text = muted(HELP_TEXT)
        self.help_text.hide()
        layout = QVBoxLayout(self)
        self._layout = layout
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACING + 4)
        for widget in (self.gpu_bar, self.no_gpu, self.ram_bar, self.verdict, self.cuda_hint):
            layout.addWidget(widget)
        help_box = QVBoxLayout()
        help_box.setSpacing(2)
        help_box.addWidget(self.help_link)
        help_box.addWidget(self.help_text)
        layout.addLayout(help_box)
        self.help_link.linkActivated.connect(lambda _link: self.toggle_help())

    def _hint_box(self) -> QFrame:
        box = QFrame()
        box.setFrameShape(QFrame.Shape.StyledPanel)
        self.cuda_text = _wrapped()
        self.cuda_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cuda_command = _wrapped()
        self.cuda_command.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.cuda_command.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.cuda_command.setCursor(Qt.CursorShape.IBeamCursor)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.addWidget(self.cuda_text)
        layout.addWidget(self.cuda_command)
        box.hide()
        return box

    def toggle_help(self) -> None:
        self.help_text.setVisible(not self.help_text.isVisible())

    def show_gpu(self, total_bytes: int, segments: dict[str, int]) -> None:
        self.show_gpus([("GPU memory", total_bytes, segments)])

    def show_gpus(self, bars: list[tuple[str, int, dict[str, int]]]) -> None:
        """One bar per GPU: (title, the card's total bytes, its segments)."""
        while len(self.gpu_bars) < len(bars):
            bar = MemoryBar("")
            self._layout.insertWidget(self._layout.indexOf(self.gpu_bars[-1]) + 1, bar)
            self.gpu_bars.append(bar)
        for bar, (title, total, segments) in zip(self.gpu_bars, bars, strict=False):
            bar.set_title(title)
            bar.set_segments(total, segments)
            bar.show()
        for bar in self.gpu_bars[len(bars) :]:
            bar.hide()
        self.no_gpu.hide()

    def show_no_gpu(self, text: str) -> None:
        """No GPU to plan for: a sentence in the GPU bar's place."""
        if self.no_gpu.text() != text:
            self.no_gpu.setText(text)
        if self.no_gpu.isHidden():
            for bar in self.gpu_bars:
                bar.hide()
            self.no_gpu.show()

    def show_ram(self, total_bytes: int, segments: dict[str, int]) -> None:
        self.ram_bar.set_segments(total_bytes, segments)

    def show_verdict(self, verdict: Verdict) -> None:
        self.verdict.set_verdict(verdict)

    def set_cuda_hint(self, hint: str | None) -> None:
        """`cuda_install_hint`'s text: the sentence, then the command on its own line."""
        self.cuda_hint.setVisible(bool(hint))
        if hint:
            sentence, _, command = hint.rpartition("\n")
            self.cuda_text.setText(sentence or hint)
            self.cuda_command.setText(command if sentence else "")
