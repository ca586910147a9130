"""The model side of the chat page: picker, load and eject, the Load panel, template choice.

Loads go to the context's `ModelHost` (the app's one owner of the model); this turns
its controller's results into what the top bar, the Load tab and the template banner
show, and tells the app (`model_changed`). Errors are handed to the page's banner
through `notice`. Built after a model was loaded (from My Models, say), it shows that
model at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QLabel, QStackedWidget, QVBoxLayout, QWidget

from lmdesk.core.gguf import ModelInfo
from lmdesk.core.load_plan import lighter_settings
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.remote_engines import (
    RemoteServer,
    is_remote_label,
    remote_label,
    remote_model_named,
    servers_from_setting,
)
from lmdesk.core.units import format_size
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.pages.chat.formatting import model_display_name
from lmdesk.ui.pages.chat.model_bar import ModelBar
from lmdesk.ui.pages.chat.model_choice import ModelChoice
from lmdesk.ui.pages.chat.side_tabs import TemplateBanner
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.inference import LoadedModel
from lmdesk.ui.services.model_host import ModelHost

if TYPE_CHECKING:
    from collections.abc import Callable

    from lmdesk.core.engine import EngineError, UnloadReport
    from lmdesk.ui.services.worker_feed import WorkerFeed


LOADED_WORDS = {"chat": "loaded", "server": "loaded by the server"}


class ModelControls(QObject):
    model_ready = Signal(object)
    """LoadedModel: a model is loaded and can chat."""
    model_gone = Signal()
    """No model is loaded any more (ejected, failed or cancelled)."""
    notice = Signal(str, str)
    """level, a sentence for the page's banner ('' dismisses it)."""
    load_error = Signal(str, object)
    """message, (button label, callback) or None: a failed load, with a way out if there is one
    (an out-of-memory load offers fewer GPU layers or a shorter context)."""
    load_tab_wanted = Signal()
    """Show the Load tab (a model was picked)."""

    def __init__(self, context: AppContext, host: ModelHost, parent: QWidget) -> None:
        super().__init__(parent)
        self._context = context
        self._host = host
        self._controller = host.controller
        self._parent = parent
        self._panel_path = ""
        self._attempt: tuple[str, LoadSettings] | None = None
        self._found: list[tuple[str, str]] = []
        self._known: list[RemoteServer] = []
        self.bar = ModelBar()
        self.panel = OffloadPanel(context.settings)
        self.panel.speed.use_host(host)  # its Benchmark swaps the chat's model, never a 2nd copy
        self.remote_note = RemoteNote()
        self.load_tab = QStackedWidget()
        """The Load tab: the Load panel, or where a remote model runs (no memory here)."""
        self.load_tab.addWidget(self.panel)
        self.load_tab.addWidget(self.remote_note)
        self.template_banner = TemplateBanner()
        self.choice = ModelChoice(context.settings, self)
        if context.latest_probe is not None:
            self.panel.set_gpus(context.latest_probe)
        if context.llama_build is not None:
            self.panel.set_llama_build(context.llama_build)
        self.workers: WorkerFeed = context.workers
        """The remote workers' devices for the panel's Target GPU picker (the context's)."""
        if self.workers.latest is not None:
            self.panel.set_workers(self.workers.latest)
        self._connect()
        self.workers.refresh()

    def _connect(self) -> None:
        c, signals = self._controller, self._context.signals
        c.load_started.connect(lambda path: self.bar.show_loading(path))
        c.load_progress.connect(
            lambda fraction: self.bar.show_loading(c.loading_path or "", fraction)
        )
        c.loaded.connect(self._on_loaded)
        c.load_failed.connect(self._on_load_failed)
        c.load_cancelled.connect(self._on_load_cancelled)
        c.unloaded.connect(self._on_unloaded)
        c.template_changed.connect(self.template_banner.set_current)
        self.template_banner.template_chosen.connect(c.set_chat_template)
        self.panel.load_requested.connect(self.load_model)
        self.bar.model_chosen.connect(self.choose_model)
        self.bar.remote_chosen.connect(self.load_remote)
        self.bar.menu_about_to_show.connect(self._scan_models)
        self.bar.open_file_requested.connect(self.open_file)
        self.bar.library_requested.connect(lambda: signals.navigate_requested.emit("library"))
        self.bar.eject_requested.connect(c.unload)
        self.bar.cancel_requested.connect(c.cancel_load)
        self._host.loading.connect(self._on_loading)
        self._host.plan_failed.connect(lambda _message: self.bar.show_unloaded())
        signals.gpu_probe.connect(self.panel.set_gpus)
        self.workers.sig_workers.connect(self.panel.set_workers)
        signals.llama_build.connect(self.panel.set_llama_build)
        signals.models_changed.connect(self._models_changed)
        self._context.settings.changed.connect(lambda _s: self._servers_changed())
        self._servers_changed()

    # -- requests -----------------------------------------------------------------------------
    def load_model(self, path: str, settings: LoadSettings | None = None) -> None:
        """Load ``path`` through the model host; without settings, as nobody chose
        (`core.load_plan`: remembered, else the defaults fitted to the GPU)."""
        self._host.load(path, settings)

    def load_remote(self, server_name: str, model_id: str) -> None:
        """Use a remote server's model (from the picker): loaded at once through the host."""
        remote = remote_model_named(remote_label(server_name, model_id), self._servers())
        if remote is None:
            self.notice.emit("error", f"The server {server_name} is no longer in Settings.")
            return
        self._host.load(remote)

    def _on_loading(self, path: str, settings: LoadSettings) -> None:
        """The host handed a load to the engine (from here, My Models or the start-up)."""
        self._attempt = (path, settings)
        self.notice.emit("", "")
        if is_remote_label(path):
            self._panel_path = path
            self.remote_note.show_model(path, loading=True)
            self.load_tab.setCurrentWidget(self.remote_note)
            return
        self.load_tab.setCurrentWidget(self.panel)
        if self._panel_path != path:
            self.choose_model(path, settings, switch_tab=False)

    def show_current(self) -> None:
        """A page built after a load: show the model loaded, or being loaded, already
        (`model_ready` follows, so call it once the page listens)."""
        c = self._controller
        if c.loaded_model is not None and c.loaded_model.report.remote_server:
            self._on_loaded(c.loaded_model)
        elif c.loaded_model is not None:
            self.choose_model(
                str(c.loaded_model.path), c.loaded_model.report.settings, switch_tab=False
            )
            self._on_loaded(c.loaded_model)
        elif c.loading_path is not None and is_remote_label(c.loading_path):
            self._on_loading(c.loading_path, LoadSettings())
            self.bar.show_loading(c.loading_path)
        elif c.loading_path is not None:
            requested = self._host.requested
            settings = requested[1] if requested and requested[0] == c.loading_path else None
            self.choose_model(c.loading_path, settings, switch_tab=False)
            self.bar.show_loading(c.loading_path)

    def choose_model(
        self, path: str, settings: LoadSettings | None = None, *, switch_tab: bool = True
    ) -> None:
        """Show ``path`` in the Load panel (its header is read off the GUI thread)."""
        self._panel_path = path
        if (
            self._controller.loaded_model is None
            or not self._controller.loaded_model.report.remote_server
        ):
            self.load_tab.setCurrentWidget(self.panel)

        def show(model: ModelInfo) -> None:
            self.panel.set_model(model, path, settings)
            if switch_tab:
                self.load_tab_wanted.emit()

        def failed(message: str) -> None:
            self.notice.emit("error", f"{model_display_name(path)} cannot be read: {message}")

        self.choice.read(path, show, failed)

    def show_picker(self) -> None:
        self.load_tab_wanted.emit()
        self.bar.picker.showMenu()

    def open_file(self) -> QFileDialog:
        folder = str(self._context.settings.models_dir())
        dialog = QFileDialog(self._parent, "Open a GGUF model", folder)
        dialog.setNameFilter("GGUF models (*.gguf)")
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(self.choose_model)
        dialog.open()
        return dialog

    def _servers(self) -> list[RemoteServer]:
        return servers_from_setting(self._context.settings.settings.remote_servers)

    def _servers_changed(self) -> None:
        """Settings changed: the picker's server sections follow (asked again when opened)."""
        servers = self._servers()
        if servers != self._known:
            self._known = servers
            self.bar.set_remote_servers([s.name for s in servers])
            for server in servers:
                self.bar.set_remote(server.name, None)

    def _list_remote(self) -> None:
        """Ask each remote server for its models (the menu shows them as they come)."""
        for server in self._known:
            if self.choice.listing(server.name):
                continue  # the last answer stays in the menu until the new one comes
            self.choice.list_remote(
                server,
                lambda ids, name=server.name: self.bar.set_remote(name, ids),
                lambda message, name=server.name: self.bar.set_remote(name, message),
            )

    def _scan_models(self) -> None:
        self._list_remote()
        if self.choice.stale:
            self.choice.scan(lambda models: self.bar.set_models(self._mark_loaded(models)))
        else:
            self.bar.set_models(self._mark_loaded(self._found))

    def _mark_loaded(self, models: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The picker's entries, saying which models are loaded now (here or by the server)."""
        self._found = models
        loaded = self._host.loaded_paths()
        marked = []
        for label, path in models:
            who = loaded.get(Path(path))
            marked.append((f"{label} · {LOADED_WORDS[who]}" if who else label, path))
        return marked

    def _models_changed(self) -> None:
        self.choice.stale = True

    # -- results ------------------------------------------------------------------------------
    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.bar.show_loaded(loaded)
        if loaded.report.remote_server:
            self._panel_path = str(loaded.path)
            self.panel.set_loaded(None)
            self.remote_note.show_model(str(loaded.path), loading=False)
            self.load_tab.setCurrentWidget(self.remote_note)
        else:
            self.load_tab.setCurrentWidget(self.panel)
            self.panel.set_loaded(str(loaded.path), loaded.report.settings)
        if loaded.has_builtin_template:
            self.template_banner.hide()
        else:
            choice = loaded.report.template_choice
            why = choice.reason if choice is not None else ""
            suggested = choice.name if choice is not None else ""
            self.template_banner.offer(
                list(loaded.templates), loaded.report.chat_template, why, suggested
            )
        self._context.signals.model_changed.emit(model_display_name(loaded.path))
        self.model_ready.emit(loaded)

    def _on_load_failed(self, error: EngineError) -> None:
        if self._attempt is not None and self._attempt[1].rpc:
            self.workers.refresh()  # one may have gone: the picker then leaves it out
        self.bar.show_unloaded()
        self.load_error.emit(str(error), self._way_out(error))
        self._gone()

    def _way_out(self, error: EngineError) -> tuple[str, Callable[[], None]] | None:
        """For an out-of-memory load of the model in the panel: retry with less."""
        from lmdesk.core.engine import OutOfMemory

        model, attempt = self.panel.model(), self._attempt
        if not isinstance(error, OutOfMemory) or model is None or attempt is None:
            return None
        path, settings = attempt
        lighter = lighter_settings(
            settings, n_layer=model.n_layer, n_ctx_train=model.n_ctx_train, n_expert=model.n_expert
        )
        if lighter is None or path != self._panel_path:
            return None
        label, retry = lighter
        return label, lambda: self._retry(path, retry)

    def _retry(self, path: str, settings: LoadSettings) -> None:
        """Show the lighter settings in the panel (they are remembered like any change), load."""
        model = self.panel.model()
        if model is not None and path == self._panel_path:
            self.panel.set_model(model, path, settings)
        self.load_model(path, settings)

    def _on_load_cancelled(self) -> None:
        self.bar.show_unloaded("Load cancelled")
        self._gone()

    def _on_unloaded(self, report: UnloadReport) -> None:
        self.bar.show_unloaded(f"Ejected · {format_size(max(0, report.freed))} of RAM freed")
        self._gone()

    def _gone(self) -> None:
        self.panel.set_loaded(None)
        self.load_tab.setCurrentWidget(self.panel)
        self.template_banner.hide()
        self._context.signals.model_changed.emit(None)
        self.model_gone.emit()

    def shutdown(self) -> None:
        self.panel.save_now()
        self.choice.wait()


class RemoteNote(QWidget):
    """Where the Load panel would be, for a remote model: it runs on its server, not here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("remoteNote")
        self.title = QLabel()
        self.title.setObjectName("remoteNoteTitle")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.title.setWordWrap(True)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setStyleSheet("color: palette(placeholder-text);")
        self.text.setTextFormat(Qt.TextFormat.PlainText)
        column = QVBoxLayout(self)
        column.setContentsMargins(16, 16, 16, 16)
        column.setSpacing(8)
        column.addWidget(self.title)
        column.addWidget(self.text)
        column.addStretch(1)

    def show_model(self, label: str, *, loading: bool) -> None:
        server, _, model_id = label.partition(" / ")
        self.title.setText(f"Runs on {server}")
        self.text.setText(
            f"{model_id} is {'being checked on' if loading else 'served by'} {server}: it takes "
            "no memory on this computer, so there are no layers or context to set here. The "
            "server applies its own chat template. Pick a model on this computer to load it here."
        )
