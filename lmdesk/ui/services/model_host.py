"""The app's one owner of the loaded model: the inference controller and the load rule.

It belongs to the `AppContext`, not to a page, so a load asked for anywhere reaches it:
My Models' Load button with the chat page never built, the model loaded at start, the
Load panel. A request without settings is planned off the GUI thread with
`core.load_plan.plan_load`, the rule the CLI uses too. Pages follow the controller's
signals and `loading` for what to show.

A benchmark of the Load panel runs here too (`run_benchmark`), as a job in the chat's model
queue: it loads each setting in the place of the chat's model and loads that back after,
so a model is never in memory twice.

It also owns the app's model pool (`core.serving.ModelPool`, made when the API server
first needs it): the chat's model is adopted there, so API requests queue on the very
engine the chat uses, and models the API loads on request sit beside it while they fit.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

from lmdesk.core.remote_engines import is_remote_label, remote_model_named, servers_from_setting
from lmdesk.ui.services.background import Progress
from lmdesk.ui.services.inference import InferenceController
from lmdesk.ui.services.task_group import TaskGroup

if TYPE_CHECKING:
    from lmdesk.core.estimate import MemoryPlan
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.core.remote_engines import RemoteModel
    from lmdesk.core.serving import Sink
    from lmdesk.core.serving.pool import ModelPool
    from lmdesk.core.speed.bench_job import BenchJob
    from lmdesk.ui.services.context import AppContext
    from lmdesk.ui.services.inference import LoadedModel

_log = logging.getLogger(__name__)


class ModelHost(QObject):
    """Loads models for everyone, through one `InferenceController`."""

    loading = Signal(str, object)
    """path, LoadSettings: a load was handed to the engine (after planning, if it needed it);
    a remote model's path is its "server / model id"."""
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
        self._pool: ModelPool | None = None
        context.signals.load_model_requested.connect(self.load)
        self.controller.loaded.connect(self._adopt)
        self.controller.unloaded.connect(lambda _report: self._release())
        self.controller.load_failed.connect(lambda _error: self._release())
        self.controller.load_cancelled.connect(self._release)

    # -- the pool the API server serves from ------------------------------------------------
    @property
    def pool(self) -> ModelPool:
        """The app's model pool, made on first use (it serves the chat's model too)."""
        if self._pool is None:
            from lmdesk.core.gpus import GpuProbe, llama_build_info
            from lmdesk.core.serving.pool_for import pool_for

            context = self._context
            self._pool = pool_for(
                lambda: context.settings.settings,
                probe=context.latest_probe or GpuProbe(gpus=()),
                build=context.llama_build or llama_build_info(),
                default_ttl_s=_ttl(context.settings.settings.server.idle_ttl_minutes),
            )
            loaded = self.controller.loaded_model
            if loaded is not None:
                self._adopt(loaded)
        return self._pool

    def loaded_paths(self) -> dict[Path, str]:
        """Every loaded model's file, and who loaded it: "chat", or "server" (the API)."""
        out: dict[Path, str] = {}
        if self._pool is not None:
            for entry in self._pool.loaded().values():
                out[entry.path] = "server" if entry.owned else "chat"
        chat = self.controller.loaded_model
        if chat is not None and not chat.report.remote_server:
            out[chat.path] = "chat"
        return out

    def _adopt(self, loaded: LoadedModel) -> None:
        """Serve the chat's model through the pool too, once its memory plan is known."""
        if self._pool is None or self._closed or loaded.report.remote_server:
            return  # a remote model is its server's to serve
        scheduler, pool = self.controller.scheduler, self._pool
        path, settings = loaded.path, loaded.report.settings

        def plan(_progress: Progress) -> MemoryPlan | None:
            return pool.plan_for(path, settings)

        def adopt(plan: MemoryPlan | None) -> None:
            current = self.controller.loaded_model
            if self._pool is not None and scheduler is not None and current is loaded:
                self._pool.adopt(path.name.removesuffix(".gguf"), path, scheduler, plan)

        self._tasks.start(
            plan,
            name="plan-adopted",
            done=adopt,
            failed=lambda _message, _details: adopt(None),
        )

    def _release(self) -> None:
        scheduler = self.controller.scheduler
        if self._pool is not None and scheduler is not None:
            self._pool.release(scheduler)

    def load(self, path: str | RemoteModel, settings: LoadSettings | None = None) -> None:
        """Load `path` with `settings`, or as nobody chose (planned on a worker thread).

        A remote server's model (`RemoteModel`, or its "server / model id" label) takes no
        memory here: the load rule does not apply, and the engine only checks that the server
        lists it."""
        if self._closed:
            return
        if isinstance(path, str) and is_remote_label(path):
            servers = servers_from_setting(self._context.settings.settings.remote_servers)
            remote = remote_model_named(path, servers)
            if remote is None:
                server = path.partition(" / ")[0]
                self.plan_failed.emit(f"The server {server} is no longer in Settings.")
                return
            path = remote
        if not isinstance(path, str):
            from lmdesk.core.load_settings import LoadSettings

            self._wanted = path.label
            self._start(path, settings or LoadSettings())
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
            from lmdesk.core.gpus import llama_build_info, probe_gpus
            from lmdesk.core.load_plan import plan_load

            known = build or llama_build_info()
            cards = probe if probe is not None else probe_gpus()  # at start, before the feed
            return plan_load(Path(path), settings=snapshot, probe=cards, build=known)

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

    def _start(self, path: str | RemoteModel, settings: LoadSettings) -> None:
        label = path if isinstance(path, str) else path.label
        _log.info("load requested: %s with %s", label, settings)
        self.requested = (label, settings)
        self.loading.emit(label, settings)
        self.controller.load(path, settings)

    def run_benchmark(self, job: BenchJob, sink: Sink, cancel: threading.Event) -> None:
        """Queue `job` on the chat's model queue, after what waits there (`client`
        "benchmark"); ``cancel`` stops it, and it loads the chat's model back either way.
        Raises `QueueFull` when the queue is full."""
        if self._closed:
            raise RuntimeError("the app is closing")
        scheduler = self.controller.scheduler
        if scheduler is not None:
            scheduler.submit(job, sink, client="benchmark", cancel=cancel)
            return

        def submit() -> None:  # the queue's thread was not up yet
            queue = self.controller.scheduler
            if queue is not None and not self._closed:
                queue.submit(job, sink, client="benchmark", cancel=cancel)

        self.controller.ready.connect(submit, Qt.ConnectionType.SingleShotConnection)
        self.controller.warm_up()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop planning, then end the controller's thread and free the model (if it is ours)."""
        if self._closed:
            return
        self._closed = True
        self._tasks.cancel_all()
        self._tasks.wait_all(timeout_s)
        if self._pool is not None:
            self._pool.close()  # the models the API loaded; the chat's is the controller's
        if self._owns_controller:
            self.controller.shutdown(timeout_s)


def _ttl(minutes: int) -> float | None:
    return minutes * 60.0 if minutes else None
