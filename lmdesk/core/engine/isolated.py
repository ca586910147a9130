"""An `Engine` in a child process, for loads over `lmdesk worker`s.

llama.cpp's RPC client aborts its process when a worker goes away mid-reply (a failed
send or receive is `GGML_ABORT`, with no error path). Run in a child, that abort ends
only the child: the parent sees the pipe close and raises `GenerationError` naming the
workers, at once, and can load again without the one that went away.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Generator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..load_settings import LoadSettings
from ..sampling import SamplingSettings
from .chunks import ChatChunk
from .errors import EngineError, GenerationError
from .reports import LoadReport

_END = "end"
POLL_S = 0.5


def _child(conn: Connection) -> None:
    from .engine import Engine

    engine = Engine()
    while True:
        try:
            command, args = conn.recv()
        except EOFError:
            return
        try:
            if command == "load":
                conn.send(("ok", engine.load(*args)))
            elif command == "complete":
                for chunk in engine.complete(*args):
                    conn.send(("chunk", chunk))
                conn.send((_END, None))
            elif command == "close":
                engine.close()
                conn.send(("ok", None))
                return
        except EngineError as exc:
            conn.send(("error", str(exc)))  # some subclasses do not unpickle


class IsolatedEngine:
    """``load`` / ``complete`` / ``close`` of `Engine`, run in a child process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_child, args=(child_conn,), daemon=True)
        self._process.start()
        child_conn.close()
        self._workers: tuple[str, ...] = ()

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def _receive(self) -> tuple[str, Any]:
        while not self._conn.poll(POLL_S):
            if not self._process.is_alive() and not self._conn.poll(0):
                break
        try:
            reply: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(5)
            shown = ", ".join(self._workers) or "none"
            raise GenerationError(
                f"The model's process ended (status {self._process.exitcode}): a worker it "
                f"was split over went away or failed (workers: {shown}). Load it again "
                "without that worker."
            ) from None
        if reply[0] == "error":
            raise EngineError(reply[1])
        return reply

    def _send(self, command: str, *args: Any) -> None:
        try:
            self._conn.send((command, args))
        except (BrokenPipeError, OSError):
            raise GenerationError("The model's process has ended; load the model again.") from None

    def load(self, path: str | Path, settings: LoadSettings) -> LoadReport:
        self._workers = settings.rpc
        self._send("load", Path(path), settings)
        report: LoadReport = self._receive()[1]
        return report

    def complete(
        self, prompt: str, sampling: SamplingSettings | None = None
    ) -> Generator[ChatChunk, None, None]:
        self._send("complete", prompt, sampling)
        while True:
            kind, chunk = self._receive()
            if kind == _END:
                return
            yield chunk

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(EngineError):
                self._send("close")
                self._receive()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
