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

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from lmdesk.core.gguf import ModelInfo
from lmdesk.core.load_plan import lighter_settings
from lmdesk.core.load_settings import LoadSettings
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
        self.bar = ModelBar()
        self.panel = OffloadPanel(context.settings)
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

    # -- requests -----------------------------------------------------------------------------
    def load_model(self, path: str, settings: LoadSettings | None = None) -> None:
        """Load ``path`` through the model host; without settings, as nobody chose
        (`core.load_plan`: remembered, else the defaults fitted to the GPU)."""
        self._host.load(path, settings)

    def _on_loading(self, path: str, settings: LoadSettings) -> None:
        """The host handed a load to the engine (from here, My Models or the start-up)."""
        self._attempt = (path, settings)
        self.notice.emit("", "")
        if self._panel_path != path:
            self.choose_model(path, settings, switch_tab=False)

    def show_current(self) -> None:
        """A page built after a load: show the model loaded, or being loaded, already
        (`model_ready` follows, so call it once the page listens)."""
        c = self._controller
        if c.loaded_model is not None:
            self.choose_model(
                str(c.loaded_model.path), c.loaded_model.report.settings, switch_tab=False
            )
            self._on_loaded(c.loaded_model)
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

    def _scan_models(self) -> None:
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
        self.template_banner.hide()
        self._context.signals.model_changed.emit(None)
        self.model_gone.emit()

    def shutdown(self) -> None:
        self.panel.save_now()
        self.choice.wait()
