"""The app's one owner of the loaded model: the inference controller and the load rule.

It belongs to the `AppContext`, not to a page, so a load asked for anywhere reaches it:
My Models' Load button with the chat page never built, the model loaded at start, the
Load panel. A request without settings is planned off the GUI thread with
`core.load_plan.plan_load`, the rule the CLI uses too. Pages follow the controller's
signals and `loading` for what to show.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lmdesk.ui.services.background import Progress
from lmdesk.ui.services.inference import InferenceController
from lmdesk.ui.services.task_group import TaskGroup

if TYPE_CHECKING:
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.ui.services.context import AppContext

_log = logging.getLogger(__name__)


class ModelHost(QObject):
    """Loads models for everyone, through one `InferenceController`."""

    loading = Signal(str, object)
    """path, LoadSettings: a load was handed to the engine (after planning, if it needed it)."""
    plan_failed = Signal(str)
    """A sentence for a person: the load could not be planned (unreadable header, ...)."""

    def __init__(
        self, context: AppContext, *, controller: InferenceController | None = None
    ) -> None:
        super().__init__()
        self._context = context
        self._owns_controller = controller is None
        self.controller = controller if controller is not None else InferenceController(self)
        self._tasks = TaskGroup(self)
        self._wanted: str | None = None
        self.requested: tuple[str, LoadSettings] | None = None
        """The last load handed to the engine: path and settings."""
        self._closed = False
        context.signals.load_model_requested.connect(self.load)

    def load(self, path: str, settings: LoadSettings | None = None) -> None:
        """Load `path` with `settings`, or as nobody chose (planned on a worker thread)."""
        if self._closed:
            return
        self._wanted = path
        if settings is not None:
            self._start(path, settings)
            return
        context = self._context
        snapshot, probe, build = (
            context.settings.settings,
            context.latest_probe,
            context.llama_build,
        )

        def plan(_progress: Progress) -> LoadSettings:
            from lmdesk.core.gpus import llama_build_info
            from lmdesk.core.load_plan import plan_load

            known = build or llama_build_info()
            return plan_load(Path(path), settings=snapshot, probe=probe, build=known)

        self._tasks.start(
            plan,
            name="plan-load",
            done=lambda load: self._planned(path, load),
            failed=lambda message, _details: self._plan_failed(path, message),
        )

    def _planned(self, path: str, load: LoadSettings) -> None:
        if self._wanted == path and not self._closed:  # a newer request wins
            self._start(path, load)

    def _plan_failed(self, path: str, message: str) -> None:
        if self._wanted == path:
            self.plan_failed.emit(f"{Path(path).name} cannot be loaded: {message}")

    def _start(self, path: str, settings: LoadSettings) -> None:
        _log.info("load requested: %s with %s", path, settings)
        self.requested = (path, settings)
        self.loading.emit(path, settings)
        self.controller.load(path, settings)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop planning, then end the controller's thread and free the model (if it is ours)."""
        if self._closed:
            return
        self._closed = True
        self._tasks.cancel_all()
        self._tasks.wait_all(timeout_s)
        if self._owns_controller:
            self.controller.shutdown(timeout_s)
