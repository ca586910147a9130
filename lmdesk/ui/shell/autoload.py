"""Loading a model nobody picked: the one used last when the app starts, the starter once fetched.

The load settings are planned on a worker thread (`first_load.plan_first_load`
reads the header); then the chat page takes the welcome page's place and is
sent `load_model_requested`. The main window owns the pages and the worker
threads and hands both in.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from lmdesk.ui.services.context import AppContext
from lmdesk.ui.shell import window_state

_log = logging.getLogger(__name__)

NO_AUTOLOAD_ENV = "LMDESK_NO_AUTOLOAD"  # tests that only look at the window set it


class Run(Protocol):
    """Runs `work` on a worker thread, then `done(result)` on the GUI thread."""

    def __call__(
        self, work: Callable[[object], object], *, name: str, done: Callable[[object], None]
    ) -> None: ...


class AutoLoader:
    """Plans how to load a model off the GUI thread, then asks the chat page to load it."""

    def __init__(self, context: AppContext, *, run: Run, chat_page: Callable[[], None]) -> None:
        """`chat_page` builds the chat page, in place of the welcome page if that is shown."""
        self.context = context
        self._run = run
        self._chat_page = chat_page

    def load_at_start(self) -> None:
        """Ready to chat at once: load the model used last, else the starter model if present."""
        if os.environ.get(NO_AUTOLOAD_ENV):
            return
        from lmdesk.ui.first_load import model_to_load_at_start

        path = model_to_load_at_start(window_state.last_model(), self.context.settings.models_dir())
        if path is not None:
            self.load(path)

    def load(self, path: str) -> None:
        """Plan how to load `path` (off the GUI thread), then hand it to the chat page."""
        from lmdesk.ui.first_load import plan_first_load

        context = self.context
        settings, probe, build = (
            context.settings.settings,
            context.latest_probe,
            context.llama_build,
        )

        def plan(_progress: object) -> object:
            from lmdesk.core.gpus import llama_build_info

            return plan_first_load(
                Path(path), settings=settings, probe=probe, build=build or llama_build_info()
            )

        self._run(plan, name="first-load", done=lambda load: self._load_planned(path, load))

    def _load_planned(self, path: str, load: object) -> None:
        self._chat_page()
        _log.info("load requested: %s with %s", path, load)
        self.context.signals.models_changed.emit()
        self.context.signals.load_model_requested.emit(path, load)
