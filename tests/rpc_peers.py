"""Real peers for the RPC tests: `lmdesk worker` processes on 127.0.0.1, a free port, and a
plain TCP server that answers every connection with random bytes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

LMDESK = [sys.executable, "-c", "import sys; from lmdesk.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker() -> tuple[subprocess.Popen[str], str]:
    """A real `lmdesk worker` on a free loopback port; its process and host:port."""
    process = subprocess.Popen(
        [*LMDESK, "worker", "--port", str(free_port()), "--json", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    return process, str(json.loads(process.stdout.readline())["endpoint"])


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(10)


@contextlib.contextmanager
def running_workers(count: int = 2) -> Iterator[tuple[str, ...]]:
    """``count`` real workers for the block; their host:port addresses, killed after."""
    started = [start_worker() for _ in range(count)]
    try:
        yield tuple(endpoint for _, endpoint in started)
    finally:
        for process, _ in started:
            stop(process)


def garbage_peer() -> tuple[socket.socket, str]:
    """A plain TCP server that answers every connection with random bytes."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.sendall(os.urandom(4096))

    threading.Thread(target=answer, daemon=True).start()
    return server, f"127.0.0.1:{server.getsockname()[1]}"
