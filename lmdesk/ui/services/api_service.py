"""The local API server inside the app: started and stopped from the Server page.

The server itself is the core's (`core.server.ApiServer`, uvicorn on its own thread); it
serves from the model host's pool, so a request for the chat's model waits its turn in
the chat's own queue. Starting binds the port and waits for uvicorn (a fraction of a
second), so it runs on a worker thread; the outcome comes back as `state_changed`. The
settings say whether it runs (`server.run_at_start`), so it comes back at the next launch.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lmdesk.ui.services.background import Progress
from lmdesk.ui.services.task_group import TaskGroup

if TYPE_CHECKING:
    from lmdesk.core.server import ApiServer, RequestRecord
    from lmdesk.ui.services.context import AppContext

_log = logging.getLogger(__name__)


class ApiService(QObject):
    """One server at most; `start`, `stop`, and what it did (`records`)."""

    state_changed = Signal()
    """Started, stopped, or failed to start (`running`, `base_url`, `error` say which)."""
    request_logged = Signal(object)
    """RequestRecord: a request finished (method, path, model, status, tokens, time)."""
    _logged_on_server = Signal(object)

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self._context = context
        self._server: ApiServer | None = None
        self._tasks = TaskGroup(self)
        self._starting = False
        self.error = ""
        """Why the last start failed, in words ('' when it did not)."""
        self.records: list[RequestRecord] = []
        self._logged_on_server.connect(self._on_logged)  # queued: from the server's thread

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def starting(self) -> bool:
        return self._starting

    @property
    def base_url(self) -> str:
        return self._server.base_url if self._server is not None else ""

    def start(self) -> None:
        """Start with the settings' configuration (off the GUI thread); `state_changed`."""
        if self._server is not None or self._starting:
            return
        from lmdesk.core.sampling import SamplingSettings
        from lmdesk.core.server import ServerState, config_from_settings

        settings = self._context.settings.settings
        self._starting, self.error = True, ""
        self.state_changed.emit()
        pool = self._context.models.pool
        sampling = SamplingSettings.from_defaults(settings.sampling).with_changes(max_tokens=None)
        emit = self._logged_on_server.emit

        def work(_progress: Progress) -> ApiServer:
            from lmdesk.core.server import ApiServer

            config = config_from_settings(settings.server)  # ServerConfigError: says why
            server = ApiServer(ServerState(pool, config, sampling=sampling, on_request=emit))
            server.start()
            return server

        self._tasks.start(work, name="api-start", done=self._started, failed=self._failed)

    def stop(self) -> None:
        """Stop serving (requests in flight end); remembered for the next launch."""
        server, self._server = self._server, None
        if server is None:
            return
        self._remember(False)
        self.state_changed.emit()
        self._tasks.start(lambda _p: server.stop(), name="api-stop", done=lambda _r: None)

    def close(self, timeout_s: float = 10.0) -> None:
        """At shutdown: stop now (the setting keeps saying whether it was on)."""
        self._tasks.wait_all(timeout_s)
        server, self._server = self._server, None
        if server is not None:
            server.stop(timeout_s)

    def _started(self, server: ApiServer) -> None:
        self._starting, self._server = False, server
        _log.info("API server at %s", server.base_url)
        self._remember(True)
        self.state_changed.emit()

    def _failed(self, message: str, _details: str) -> None:
        self._starting, self.error = False, message
        _log.warning("the API server did not start: %s", message)
        self.state_changed.emit()

    def _on_logged(self, record: RequestRecord) -> None:
        self.records.append(record)
        del self.records[:-500]
        self.request_logged.emit(record)

    def _remember(self, running: bool) -> None:
        store = self._context.settings
        if store.settings.server.run_at_start == running:
            return
        try:
            store.update(lambda s: replace(s, server=replace(s.server, run_at_start=running)))
        except OSError:
            _log.warning("could not remember whether the API server runs", exc_info=True)
