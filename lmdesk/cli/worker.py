"""``lmdesk worker``: lend this machine's llama.cpp devices to other lmdesk instances."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..core.rpc_worker import (
    DEFAULT_PORT,
    UNSAFE_WARNING,
    WorkerError,
    check_free,
    choose_devices,
    is_loopback,
    serve,
)
from ..core.units import format_size


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser(
        "worker", help="serve this machine's devices to other lmdesk instances (llama.cpp RPC)"
    )
    cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    cmd.add_argument(
        "--device", help="which local devices, by index, comma-separated (default: all)"
    )
    cmd.add_argument("--cache", help="folder for llama.cpp's tensor cache (faster reloads)")
    cmd.add_argument("--threads", type=int, default=0, help="CPU threads (default: Auto)")
    cmd.add_argument("--json", action="store_true", help="print the startup line as JSON")


def _indexes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise WorkerError(f"--device takes indexes such as 0 or 0,1, not {text[:40]!r}") from None


def worker(args: argparse.Namespace, fail: Any) -> int:
    """Serve until Ctrl+C (exit 0); ``fail(line)`` prints one line and returns 2."""
    from ..core.cpu_threads import default_threads

    try:
        if not 0 < args.port < 65536:
            raise WorkerError(f"--port must be 1 to 65535, not {args.port}")
        devices = choose_devices(_indexes(args.device))
        check_free(args.host, args.port)
        cache = Path(args.cache).expanduser() if args.cache else None
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
    except (WorkerError, OSError) as exc:
        return int(fail(str(exc)))
    threads = args.threads if args.threads > 0 else default_threads().generation
    if not is_loopback(args.host):
        print(UNSAFE_WARNING.format(host=args.host, port=args.port), file=sys.stderr, flush=True)
    # llama.cpp's server prints its own banner on stdout: send that to stderr, so stdout
    # carries lmdesk's one startup line (scripts read it with --json).
    sys.stdout.flush()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(
        target=serve,
        args=(args.host, args.port, devices),
        kwargs={"cache": cache, "threads": threads},
        name="lmdesk-worker",
        daemon=True,  # llama.cpp's server never returns; it ends with the process
    )
    thread.start()
    if not _accepting(args.host, args.port, thread):
        return int(fail(f"llama.cpp's RPC server did not start on {args.host}:{args.port}"))
    facts = {
        "event": "listening",
        "endpoint": f"{args.host}:{args.port}",
        "devices": [
            {"name": d.name, "description": d.description, "total_bytes": d.total_bytes}
            for d, _ in devices
        ],
        "cache": str(cache) if cache else None,
        "pid": os.getpid(),
    }
    if args.json:
        print(json.dumps(facts), file=out, flush=True)
    else:
        names = "; ".join(f"{d.name} ({format_size(d.total_bytes)})" for d, _ in devices)
        line = f"lmdesk worker on {args.host}:{args.port}: {names}; Ctrl+C stops"
        print(line, file=out, flush=True)
    try:
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    print("lmdesk worker stopped", file=sys.stderr, flush=True)
    return 0


def _accepting(host: str, port: int, thread: threading.Thread, timeout_s: float = 30.0) -> bool:
    """Wait until the server takes connections (so the startup line is true when printed)."""
    import socket
    import time

    target = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and thread.is_alive():
        try:
            socket.create_connection((target, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
