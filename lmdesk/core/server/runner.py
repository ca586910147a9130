"""Run the API server with uvicorn: on a thread (the app, tests) or in the foreground (the
CLI). The socket is bound first, so a port in use is an `OSError` before anything starts."""

from __future__ import annotations

import socket
import threading

import uvicorn

from .app import create_app
from .config import ServerConfig
from .state import ServerState


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one); OSError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ApiServer:
    """`start()` on a thread or `serve_forever()` here; `stop()` from anywhere."""

    def __init__(self, state: ServerState) -> None:
        state.config.check()
        self.state = state
        self._socket = bind(state.config.host, state.config.port)
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(state),
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=3,
                lifespan="off",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> ServerConfig:
        return self.state.config

    @property
    def base_url(self) -> str:
        host = self.config.base_url.split("//", 1)[1].rsplit(":", 1)[0]
        return f"http://{host}:{self.port}/v1"

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or `stop()`."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self, timeout: float = 10.0) -> None:
        """Serve on a daemon thread; returns once it accepts connections."""
        self._thread = threading.Thread(target=self.serve_forever, name="lmdesk-api", daemon=True)
        self._thread.start()
        waited = threading.Event()
        while not self._server.started and self._thread.is_alive():
            waited.wait(0.01)
        if not self._server.started:
            raise RuntimeError("the API server did not start")

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


__all__ = ["ApiServer", "bind"]
