"""Several loaded models, one `ModelScheduler` each: loaded on request, unloaded when idle.

    pool = ModelPool(catalog=lambda: scan_catalog(settings), settings_for=rule, fits=fits)
    scheduler = pool.acquire("SmolLM2-135M-Instruct.Q4_1")   # loads it if needed (JIT)
    handle = scheduler.submit(ChatJob(messages), sink, client="api")

A model that does not fit beside the loaded ones (``fits``: the estimator's plans with the
safety margin) makes the pool unload the least recently used idle model first. A model
idle for longer than its TTL (the pool's default, or the last request's override) is
unloaded by `reap()`, which `start_reaper()` calls every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..estimate import MemoryPlan
from ..load_settings import LoadSettings
from .catalog import resolve
from .errors import ModelsBusy, UnknownModel
from .fit_together import Fits
from .jobs import LoadJob
from .scheduler import DEFAULT_MAX_QUEUE, ModelScheduler

_log = logging.getLogger(__name__)

DEFAULT_TTL_S = 60 * 60.0

SettingsFor = Callable[[Path], LoadSettings]
"""The load rule: `core.load_plan.plan_load` with the app's settings and GPU, bound."""
PlanFor = Callable[[Path, LoadSettings], MemoryPlan | None]


@dataclass
class LoadedModel:
    model_id: str
    path: Path
    scheduler: ModelScheduler
    plan: MemoryPlan | None
    ttl_s: float | None
    owned: bool = True
    """False for an engine the pool serves but does not own (the app's chat model): the
    pool never unloads it, to make room or after its TTL; its owner does."""


def _always(_loaded: object, _new: object) -> bool:
    return True


def _no_plan(_path: Path, _settings: LoadSettings) -> MemoryPlan | None:
    return None


class ModelPool:
    """The loaded models by id; thread-safe; loads are made one at a time."""

    def __init__(
        self,
        *,
        catalog: Callable[[], dict[str, Path]],
        settings_for: SettingsFor,
        fits: Fits = _always,
        plan_for: PlanFor = _no_plan,
        default_ttl_s: float | None = DEFAULT_TTL_S,
        max_queue: int = DEFAULT_MAX_QUEUE,
    ) -> None:
        self._catalog = catalog
        self._settings_for = settings_for
        self._fits = fits
        self._plan_for = plan_for
        self.default_ttl_s = default_ttl_s
        self.max_queue = max_queue
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()  # guards _loaded
        self._load_lock = threading.Lock()  # one load (and its evictions) at a time
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()

    # --- what there is ------------------------------------------------------------------

    def catalog(self) -> dict[str, Path]:
        """Every model a client can name, by id (blocking: a library scan)."""
        return self._catalog()

    def plan_for(self, path: Path, settings: LoadSettings) -> MemoryPlan | None:
        """What ``path`` loaded with ``settings`` takes, as the pool counts it (blocking)."""
        return self._plan_for(path, settings)

    def loaded(self) -> dict[str, LoadedModel]:
        with self._lock:
            return dict(self._loaded)

    def busy_client(self) -> str | None:
        """Who is being served by any loaded model ("chat", "api"), None when all are idle."""
        for entry in self.loaded().values():
            client = entry.scheduler.busy_client
            if client is not None:
                return client
        return None

    # --- getting a model ----------------------------------------------------------------

    def acquire(
        self,
        name: str | None,
        *,
        jit: bool = True,
        ttl_s: float | None = None,
        settings: LoadSettings | None = None,
    ) -> tuple[str, ModelScheduler]:
        """(id, scheduler) of the model ``name`` names, loading it when ``jit`` (blocking).

        ``name`` None or "" takes the most recently used loaded model. ``ttl_s`` overrides
        the idle time before unloading, from now on. Raises `UnknownModel` (with the ids
        there are), `ModelsBusy`, or the load's `EngineError`.
        """
        found = self.acquire_loaded(name, ttl_s=ttl_s)
        if found is not None:
            return found
        catalog = self._catalog()
        model_id = resolve(name, catalog) if name else None
        if model_id is None or not jit:
            available = sorted({*catalog, *self.loaded()})
            if not name:
                message = "No model is loaded: name one in 'model'."
            elif model_id is None:
                message = f"The model {name!r} is not in My Models."
            else:
                message = f"The model {name!r} is not loaded (JIT loading is off)."
            raise UnknownModel(message, available=available)
        entry = self._load(model_id, catalog[model_id], settings)
        if ttl_s is not None:
            entry.ttl_s = ttl_s
        entry.scheduler.last_used = time.monotonic()
        return entry.model_id, entry.scheduler

    def acquire_loaded(
        self, name: str | None, *, ttl_s: float | None = None
    ) -> tuple[str, ModelScheduler] | None:
        """`acquire` for a model already loaded (never blocks); None when it is not."""
        entry = self._find_loaded(name)
        if entry is None:
            return None
        if ttl_s is not None:
            entry.ttl_s = ttl_s
        entry.scheduler.last_used = time.monotonic()
        return entry.model_id, entry.scheduler

    def _find_loaded(self, name: str | None) -> LoadedModel | None:
        with self._lock:
            if not name:
                if not self._loaded:
                    return None
                return max(self._loaded.values(), key=lambda e: e.scheduler.last_used)
            model_id = resolve(name, {k: e.path for k, e in self._loaded.items()})
            return self._loaded.get(model_id) if model_id else None

    def load(
        self,
        model_id: str,
        path: Path,
        settings: LoadSettings | None = None,
        *,
        on_progress: Callable[[float], bool | None] | None = None,
    ) -> ModelScheduler:
        """Load ``path`` as ``model_id`` (blocking); the one rule when ``settings`` is None."""
        return self._load(model_id, path, settings, on_progress=on_progress).scheduler

    def _load(
        self,
        model_id: str,
        path: Path,
        settings: LoadSettings | None,
        *,
        on_progress: Callable[[float], bool | None] | None = None,
    ) -> LoadedModel:
        with self._load_lock:
            existing = self._find_loaded(model_id)
            if existing is not None and existing.model_id == model_id:
                return existing
            settings = settings or self._settings_for(path)
            plan = self._plan_for(path, settings)
            self._make_room(plan)
            scheduler = ModelScheduler(max_queue=self.max_queue, name=model_id)
            scheduler.start_thread()
            try:
                scheduler.submit(LoadJob(path, settings, on_progress=on_progress)).wait()
            except BaseException:
                scheduler.close()
                raise
            entry = LoadedModel(model_id, path, scheduler, plan, self.default_ttl_s)
            with self._lock:
                self._loaded[model_id] = entry
            _log.info("loaded %s (%s)", model_id, path)
            return entry

    def _plan_for_loaded(self, scheduler: ModelScheduler) -> MemoryPlan | None:
        report = scheduler.report
        return None if report is None else self._plan_for(report.path, report.settings)

    def _make_room(self, plan: MemoryPlan | None) -> None:
        """Unload the least recently used idle models until ``plan`` fits beside the rest."""
        if plan is None:
            return
        while True:
            loaded = self.loaded()
            plans = [e.plan for e in loaded.values() if e.plan is not None]
            if not loaded or self._fits(plans, plan):
                return
            idle = [e for e in loaded.values() if e.scheduler.idle and e.owned]
            if not idle:
                raise ModelsBusy(
                    "This model does not fit beside the loaded ones, and they are all busy; "
                    "try again when a request has finished."
                )
            victim = min(idle, key=lambda e: e.scheduler.last_used)
            _log.info("unloading %s to make room", victim.model_id)
            self.unload(victim.model_id)

    def adopt(
        self,
        model_id: str,
        path: Path,
        scheduler: ModelScheduler,
        plan: MemoryPlan | None = None,
    ) -> None:
        """Serve a model someone else loaded and owns (the chat's), under ``model_id``: API
        requests then queue on its scheduler, beside the chat's own, and the pool never
        unloads it (to make room, after a TTL, or at `close`). ``plan`` None: worked out from
        the scheduler's report (blocking: reads the header). One adopted model per
        scheduler: adopting again (a new model in the chat) replaces the old entry."""
        if plan is None:
            plan = self._plan_for_loaded(scheduler)
        with self._lock:
            for key, entry in list(self._loaded.items()):
                if entry.scheduler is scheduler or key == model_id:
                    del self._loaded[key]
            self._loaded[model_id] = LoadedModel(model_id, path, scheduler, plan, None, owned=False)

    def release(self, scheduler: ModelScheduler) -> None:
        """Stop serving an adopted scheduler (its owner unloaded the model)."""
        with self._lock:
            for key, entry in list(self._loaded.items()):
                if entry.scheduler is scheduler and not entry.owned:
                    del self._loaded[key]

    # --- letting go ---------------------------------------------------------------------

    def unload(self, model_id: str) -> bool:
        """Unload ``model_id`` (what waits for it is cancelled; an adopted model is only let
        go); False if it was not loaded."""
        with self._lock:
            entry = self._loaded.pop(model_id, None)
        if entry is None:
            return False
        if entry.owned:
            entry.scheduler.close()
        return True

    def reap(self, now: float | None = None) -> list[str]:
        """Unload the idle models whose TTL has passed; return their ids."""
        now = time.monotonic() if now is None else now
        gone = []
        for model_id, entry in self.loaded().items():
            ttl = entry.ttl_s
            idle = entry.scheduler.idle and entry.owned
            if ttl is not None and idle and now - entry.scheduler.last_used >= ttl:
                _log.info("unloading %s: idle for %.0f s", model_id, ttl)
                if self.unload(model_id):
                    gone.append(model_id)
        return gone

    def start_reaper(self, interval_s: float = 5.0) -> None:
        """Call `reap()` every ``interval_s`` on a daemon thread until `close()`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.reap()

        self._reaper = threading.Thread(target=loop, name="lmdesk-model-reaper", daemon=True)
        self._reaper.start()

    def close(self) -> None:
        """Stop the reaper and unload every model."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join()
        for model_id in list(self.loaded()):
            self.unload(model_id)
