"""The top bar: which model is loaded (a picker), Eject, and the load's progress with Cancel.

"SmolLM2 135M Instruct · Q4_1 · 94 MiB ● loaded · CPU only"; while loading,
a bar and Cancel; after Eject, how much RAM came back.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QToolButton,
    QWidget,
)

from lmdesk.ui.pages.chat.formatting import model_display_name, model_line
from lmdesk.ui.services.inference import LoadedModel

PICKER_STYLE = """
QToolButton#modelPicker { background: #eef2fb; border: 1px solid #c7d2fe; border-radius: 8px;
                          padding: 6px 14px; color: #1f2937; }
QToolButton#modelPicker:hover { border-color: #3b82f6; }
QToolButton#modelPicker::menu-indicator { subcontrol-position: right center; right: 6px; }
"""
FLAT_STYLE = """
QPushButton { border: none; color: palette(placeholder-text); padding: 6px 10px; }
QPushButton:hover { color: #2563eb; }
"""
NO_MODEL = "Choose a model to load"


class ModelBar(QWidget):
    model_chosen = Signal(str)
    """path of a model picked from the menu (shown in the Load tab, not loaded yet)."""
    remote_chosen = Signal(str, str)
    """server name, model id: a remote server's model picked from the menu (loaded at once:
    it takes no memory here)."""
    open_file_requested = Signal()
    library_requested = Signal()
    menu_about_to_show = Signal()
    eject_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelBar")
        self.setStyleSheet(PICKER_STYLE)
        self.picker = QToolButton()
        self.picker.setObjectName("modelPicker")
        self.picker.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.picker.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.picker.setCursor(Qt.CursorShape.PointingHandCursor)
        self.menu = QMenu(self.picker)
        self.menu.aboutToShow.connect(self.menu_about_to_show)
        self.picker.setMenu(self.menu)
        self.eject_button = QPushButton("⏏ Eject")
        self.eject_button.setStyleSheet(FLAT_STYLE)
        self.eject_button.setToolTip("Unload the model and free its memory")
        self.eject_button.clicked.connect(self.eject_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(200)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(8)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setStyleSheet(FLAT_STYLE)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.status = QLabel()
        self.status.setStyleSheet("color: palette(placeholder-text);")
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 10, 16, 10)
        row.setSpacing(8)
        row.addStretch(1)
        row.addWidget(self.picker)
        row.addWidget(self.progress)
        row.addWidget(self.cancel_button)
        row.addWidget(self.eject_button)
        row.addWidget(self.status)
        row.addStretch(1)
        self._models: list[tuple[str, str]] = []
        self._remote: dict[str, list[str] | str | None] = {}
        """server name → its model ids, why it cannot be listed, or None while listing."""
        self.set_models([], scanning=True)
        self.show_unloaded()

    # -- states -------------------------------------------------------------------------------
    def show_unloaded(self, note: str = "") -> None:
        self.picker.setText(NO_MODEL)
        self.picker.setToolTip("Pick a model, then press Load model in the Load panel")
        self._set_loading(False)
        self.eject_button.hide()
        self.status.setText(note)

    def show_loading(self, path: str, fraction: float = 0.0) -> None:
        self.picker.setText(f"Loading {model_display_name(path)}…")
        self.picker.setToolTip(path)
        self._set_loading(True)
        self.eject_button.hide()
        self.progress.setValue(round(max(0.0, min(1.0, fraction)) * 1000))
        self.status.setText(f"{fraction * 100:.0f}%")

    def show_loaded(self, loaded: LoadedModel) -> None:
        report = loaded.report
        if report.remote_server:
            self.picker.setText(f"{report.name} ● on {report.remote_server}")
            self.picker.setToolTip(
                f"{report.name}, run by the server {report.remote_server}; it applies its "
                "own chat template and keeps the model in its own memory"
            )
            self._set_loading(False)
            self.eject_button.show()
            self.eject_button.setToolTip("Stop using this server's model")
            self.status.setText("")
            return
        self.eject_button.setToolTip("Unload the model and free its memory")
        self.picker.setText(
            model_line(
                report.path,
                description=report.description,
                size_bytes=report.size_bytes,
                gpu_layers=loaded.gpu_layers,
                layer_slots=loaded.layer_slots,
                gpu_offload=loaded.gpu_offload,
            )
        )
        self.picker.setToolTip(
            f"{report.path}\n{report.description}, context {report.n_ctx:,} tokens, "
            f"loaded in {report.load_s:.1f} s"
        )
        self._set_loading(False)
        self.eject_button.show()
        self.status.setText("")

    def _set_loading(self, loading: bool) -> None:
        self.progress.setVisible(loading)
        self.cancel_button.setVisible(loading)

    # -- the menu -----------------------------------------------------------------------------
    def set_models(self, models: list[tuple[str, str]], *, scanning: bool = False) -> None:
        """(label, path) of the models found on disk."""
        self._models = models
        self.menu.clear()
        if scanning and not models:
            self.menu.addAction("Looking for models…").setEnabled(False)
        elif not models:
            self.menu.addAction("No models found yet").setEnabled(False)
        for label, path in models:
            action = self.menu.addAction(label)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.model_chosen.emit(p))
        for server, found in self._remote.items():
            self.menu.addSection(server)
            if found is None:
                self.menu.addAction("Asking the server for its models…").setEnabled(False)
            elif isinstance(found, str):
                self.menu.addAction(_shortened(found)).setEnabled(False)
                self.menu.actions()[-1].setToolTip(found)
            elif not found:
                self.menu.addAction("No models on this server").setEnabled(False)
            for model_id in found if isinstance(found, list) else []:
                action = self.menu.addAction(model_id)
                action.setToolTip(f"{model_id} on {server}")
                action.triggered.connect(
                    lambda _c=False, s=server, m=model_id: self.remote_chosen.emit(s, m)
                )
        self.menu.addSeparator()
        self.menu.addAction("Open a GGUF file…").triggered.connect(self.open_file_requested)
        self.menu.addAction("My Models…").triggered.connect(self.library_requested)

    def models(self) -> list[tuple[str, str]]:
        return list(self._models)

    def set_remote(self, server: str, found: list[str] | str | None) -> None:
        """A remote server's models (ids), why they cannot be listed, or None while asking."""
        self._remote[server] = found
        self.set_models(self._models)

    def set_remote_servers(self, names: list[str]) -> None:
        """The servers in the settings, in order (those gone from it are dropped)."""
        self._remote = {name: self._remote.get(name) for name in names}
        self.set_models(self._models)

    def remote(self) -> dict[str, list[str] | str | None]:
        return dict(self._remote)


def menu_label(path: Path, size: int) -> str:
    from lmdesk.core.units import format_size

    return f"{model_display_name(path)} · {format_size(size)}"


def _shortened(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
