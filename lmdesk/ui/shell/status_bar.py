"""The bottom line: llama.cpp build, GPU memory, the model, the last reply's speed, downloads.

"llama.cpp 0.3.36 · CPU build · GPU 0: RTX 4060 8 GB, 1.9 GB free · last reply 24 tok/s ·
1 download running 43%". Each part is set by its own slot; empty parts are left out.
"""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from lmdesk.core.counted import counted
from lmdesk.core.units import format_size

if TYPE_CHECKING:
    from lmdesk.core.gpus import GpuProbe, LlamaBuild

SEPARATOR = "  ·  "


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version, without loading its native library."""
    try:
        return metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_gpus(probe: GpuProbe) -> str:
    """'GPU 0: RTX 4060 8.0 GiB, 7.4 GiB free' for each GPU, or why there is none."""
    if not probe.gpus:
        reason = probe.reason or "no NVIDIA GPU"
        return reason[:1].upper() + reason[1:]
    parts = [
        f"GPU {gpu.index}: {gpu.name.removeprefix('NVIDIA ')} "
        f"{format_size(gpu.total_bytes)}, {format_size(gpu.free_bytes)} free"
        for gpu in probe.gpus
    ]
    return SEPARATOR.join(parts)


class StatusBar(QStatusBar):
    """One label of parts joined by ' · '; each slot updates its part."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(False)
        self.setObjectName("statusBar")
        self.setStyleSheet(
            "#statusBar { border-top: 1px solid palette(midlight); }"
            "#statusText { color: palette(placeholder-text); padding: 3px 8px; }"
        )
        self._label = QLabel()
        self._label.setObjectName("statusText")
        self.addWidget(self._label, 1)
        self._parts: dict[str, str] = {
            "llama": f"llama.cpp {llama_cpp_version()}",
            "build": "",
            "gpu": "",
            "model": "",
            "speed": "",
            "downloads": "",
        }
        self._render()

    @property
    def text(self) -> str:
        return self._label.text()

    def set_llama_build(self, build: LlamaBuild) -> None:
        self._parts["llama"] = f"llama.cpp {build.version}"
        self._parts["build"] = build.label
        self._render()

    def set_gpu_probe(self, probe: GpuProbe) -> None:
        self._parts["gpu"] = describe_gpus(probe)
        self._render()

    def set_model(self, name: str | None) -> None:
        self._parts["model"] = f"{name} loaded" if name else ""
        self._render()

    def set_token_rate(self, tokens_per_s: float) -> None:
        self._parts["speed"] = f"last reply {tokens_per_s:.0f} tok/s" if tokens_per_s > 0 else ""
        self._render()

    def set_downloads(self, active: int, percent: float) -> None:
        if active <= 0:
            self._parts["downloads"] = ""
        else:
            self._parts["downloads"] = f"{counted(active, 'download')} running {percent:.0f}%"
        self._render()

    def _render(self) -> None:
        self._label.setText(SEPARATOR.join(part for part in self._parts.values() if part))
