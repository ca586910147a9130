"""What every page gets: the settings, the app-wide signals, the latest hardware readings.

Pages are built by factories that take an `AppContext`, so a page never
reaches into the main window: it connects to `context.signals` and reads
`context.settings`. The status bar listens to the same signals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lmdesk.core import paths
from lmdesk.core.settings import Settings, load_settings, save_settings

if TYPE_CHECKING:  # the GPU modules load psutil; not needed to paint the window
    from lmdesk.core.gpus import GpuProbe, LlamaBuild
    from lmdesk.ui.services.api_service import ApiService
    from lmdesk.ui.services.inference import InferenceController
    from lmdesk.ui.services.model_host import ModelHost
    from lmdesk.ui.services.worker_feed import WorkerFeed


class AppSignals(QObject):
    """The app's message board. Emit from the GUI thread (or a queued bridge)."""

    new_chat_requested = Signal()
    """Ctrl+N or the New chat button: start an empty conversation."""
    load_model_requested = Signal(str, object)
    """path, LoadSettings or None: load this model (the context's `ModelHost` does; None
    means "as nobody chose": `core.load_plan`'s rule)."""
    navigate_requested = Signal(str)
    """page key: show that page (e.g. the welcome page's 'Browse' button -> 'discover')."""
    model_changed = Signal(object)
    """display name (str) of the loaded model, or None when none is loaded."""
    token_rate = Signal(float)
    """tokens per second of the last reply."""
    downloads_changed = Signal(int, float)
    """active download count, overall percent (0..100)."""
    gpu_probe = Signal(object)
    """GpuProbe, about every 2 s, from the GPU monitor."""
    llama_build = Signal(object)
    """LlamaBuild, once, when the llama.cpp library has been looked at (after the first paint)."""
    models_changed = Signal()
    """A model file appeared or went away (download finished, starter fetched, deleted)."""


class SettingsStore(QObject):
    """The app's one copy of the settings and their one writer.

    Every part that shows or changes a setting goes through here: `save()` replaces them,
    `update()` changes a part of the current ones (the Load panel's remembered per-model
    settings), and both write the file and emit `changed`. Nothing else writes the file,
    so no part can save a stale copy over another's change.
    """

    changed = Signal(object)
    """Settings: the new settings, after they were saved."""

    def __init__(
        self,
        settings: Settings | None = None,
        parent: QObject | None = None,
        *,
        path: Path | None = None,
    ) -> None:
        """`settings` (else the file's) are the current ones; `path` is the file (default:
        lmdesk's settings.json)."""
        super().__init__(parent)
        self._path = path
        self._settings = settings if settings is not None else load_settings(path)

    @property
    def settings(self) -> Settings:
        return self._settings

    def save(self, settings: Settings) -> None:
        """Write `settings` to disk and emit `changed`; raises OSError if it cannot be written."""
        save_settings(settings, self._path)
        self._settings = settings
        self.changed.emit(settings)

    def update(self, change: Callable[[Settings], Settings]) -> Settings:
        """Save `change(current settings)`; raises OSError if it cannot be written."""
        updated = change(self._settings)
        if updated != self._settings:
            self.save(updated)
        return updated

    def models_dir(self) -> Path:
        return paths.models_dir(self._settings.models_dir)

    def model_dirs(self) -> list[Path]:
        """lmdesk's models folder first, then the extra folders that exist."""
        extra = [Path(p).expanduser() for p in self._settings.extra_model_dirs]
        return [self.models_dir(), *(p for p in extra if p.is_dir())]


@dataclass
class AppContext:
    """Handed to every page factory."""

    settings: SettingsStore
    signals: AppSignals
    latest_probe: GpuProbe | None = None
    """The newest GPU reading (None until the monitor's first one)."""
    llama_build: LlamaBuild | None = None
    """The installed llama.cpp's backends (None until looked up, after the first paint)."""
    extras: dict[str, object] = field(default_factory=dict)
    """Room for shared services a page wants to offer others (keyed by name)."""
    _model_host: ModelHost | None = field(default=None, init=False, repr=False)
    _api: ApiService | None = field(default=None, init=False, repr=False)
    _workers: WorkerFeed | None = field(default=None, init=False, repr=False)

    @property
    def workers(self) -> WorkerFeed:
        """What the remote workers offer (the Hardware page and the Load panel), made on
        first use."""
        if self._workers is None:
            from lmdesk.ui.services.worker_feed import WorkerFeed

            self._workers = WorkerFeed(self.settings)
        return self._workers

    @property
    def api(self) -> ApiService:
        """The local API server, serving from `models`' pool (made on first use)."""
        if self._api is None:
            from lmdesk.ui.services.api_service import ApiService

            self._api = ApiService(self)
        return self._api

    @property
    def models(self) -> ModelHost:
        """The app's one owner of the loaded model, made on first use. Every page (and
        `load_model_requested`) loads through it, whether or not the chat page exists."""
        return self.use_models()

    def use_models(self, controller: InferenceController | None = None) -> ModelHost:
        """The model host; the first call may hand it an existing controller (tests, benches)."""
        if self._model_host is None:
            from lmdesk.ui.services.model_host import ModelHost

            self._model_host = ModelHost(self, controller=controller)
        elif controller is not None and controller is not self._model_host.controller:
            raise RuntimeError("this context's model host already has another controller")
        return self._model_host

    def close(self, timeout_s: float = 30.0) -> None:
        """End what the context owns: the API server, then the model host (its thread, the
        loaded models), then the workers' readings."""
        if self._api is not None:
            self._api.close()
        if self._model_host is not None:
            self._model_host.close(timeout_s)
        if self._workers is not None:
            self._workers.shutdown()


#: Folder depths searched for models: `file.gguf` up to `publisher/repo/quant/file.gguf`.
_MODEL_PATTERNS = ("*.gguf", "*/*.gguf", "*/*/*.gguf", "*/*/*/*.gguf")


def any_model_present(folders: list[Path]) -> bool:
    """True as soon as one .gguf file is found in `folders`, at most four levels down.

    Runs on the GUI thread when the Chat page is first shown, so the search is
    bounded: an extra folder such as the home folder must not stall start-up.
    """
    for folder in folders:
        for pattern in _MODEL_PATTERNS:
            if any(path.is_file() for path in folder.glob(pattern)):
                return True
    return False
