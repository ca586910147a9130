"""About lmdesk (F1): the versions that matter when something goes wrong.

llama.cpp is imported on a worker thread (loading its library takes a
moment); the rest is known at once.
"""

from __future__ import annotations

import platform
import sys

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QVBoxLayout, QWidget

import lmdesk
from lmdesk.core import paths
from lmdesk.ui.kit.icons import app_icon
from lmdesk.ui.kit.widgets import heading, muted
from lmdesk.ui.services.background import BackgroundTask, Progress


def llama_versions(_progress: Progress | None = None) -> str:
    """'0.3.36 · GPU offload: no' from the installed llama-cpp-python (loads its library)."""
    try:
        import llama_cpp
    except Exception as exc:  # a broken native library must not break the About box
        return f"not usable ({exc})"
    offload = "yes" if llama_cpp.llama_supports_gpu_offload() else "no"
    return f"{llama_cpp.__version__} · GPU offload: {offload}"


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About lmdesk")
        self.setObjectName("aboutDialog")
        icon = QLabel()
        icon.setPixmap(app_icon().pixmap(64, 64))
        self.llama = QLabel("…")
        self.llama.setObjectName("llamaVersion")
        form = QFormLayout()
        form.addRow("lmdesk", QLabel(lmdesk.__version__))
        form.addRow("llama.cpp", self.llama)
        form.addRow("Qt", QLabel(qVersion()))
        form.addRow("PySide6", QLabel(PySide6.__version__))
        form.addRow("Python", QLabel(f"{platform.python_version()} ({sys.platform})"))
        logs = QLabel(str(paths.log_dir()))
        logs.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("Logs", logs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignHCenter)
        title = heading("lmdesk", scale=1.5)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        tagline = muted("Run language models locally, sized to your GPU before you download.")
        tagline.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(tagline)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._task = BackgroundTask(llama_versions, name="about-llama", parent=self)
        self._task.sig_done.connect(lambda text: self.llama.setText(str(text)))
        self._task.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self._task.wait(timeout_s)
