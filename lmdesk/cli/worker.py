"""``lmdesk worker``: lend this machine's llama.cpp devices to other lmdesk instances."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.counted import counted
from ..core.rpc_device_cap import CapError, cap_memory
from ..core.rpc_worker import (
    DEFAULT_PORT,
    UNSAFE_WARNING,
    Device,
    WorkerError,
    check_free,
    choose_devices,
    is_loopback,
    serve,
)
from ..core.units import format_size, parse_size


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser(
        "worker", help="serve this machine's devices to other lmdesk instances (llama.cpp RPC)"
    )
    cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    cmd.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    cmd.add_argument(
        "--device", help="which local devices, by index, comma-separated (default: all)"
    )
    cmd.add_argument(
        "--mem",
        help="advertise at most this much memory: one size for every device (4GiB) or one "
        "per device (4GiB,2GiB)",
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


def _sizes(text: str | None) -> list[int] | None:
    """``--mem``'s sizes in bytes; `WorkerError` for one that is not a size above 0."""
    if text is None:
        return None
    sizes = []
    for part in text.split(","):
        try:
            size = parse_size(part)
        except ValueError:
            raise WorkerError(
                f"--mem takes a size such as 4GiB (or one per device: 4GiB,2GiB), "
                f"not {part.strip()[:40]!r}"
            ) from None
        if size <= 0:
            raise WorkerError(f"--mem must be above 0 bytes, not {part.strip()[:40]!r}")
        sizes.append(size)
    return sizes


def _caps(sizes: list[int] | None, count: int) -> list[int | None]:
    """One cap per served device (None: no cap); `WorkerError` for a list that does not fit."""
    if sizes is None:
        return [None] * count
    if len(sizes) == 1:
        return [sizes[0]] * count
    if len(sizes) != count:
        raise WorkerError(
            f"--mem names {len(sizes)} sizes, but this worker serves "
            f"{counted(count, 'device')}: give one size, or one per device"
        )
    return list(sizes)


def _advertise(devices: list[tuple[Device, int]], caps: list[int | None]) -> list[Device]:
    """Cap each device's reported memory (``--mem``); the devices as clients will see them.
    A cap above what a device has changes nothing and prints a note."""
    shown = []
    for (device, handle), cap in zip(devices, caps, strict=True):
        if cap is None:
            shown.append(device)
            continue
        capped = cap_memory(handle, cap)
        if cap >= capped.real_total_bytes:
            print(
                f"note: --mem {format_size(cap)} is more than {device.name} has; "
                f"advertising its {format_size(capped.real_total_bytes)}",
                file=sys.stderr,
                flush=True,
            )
        shown.append(replace(device, free_bytes=capped.free_bytes, total_bytes=capped.total_bytes))
    return shown


def _label(real: Device, shown: Device) -> str:
    if shown.total_bytes == real.total_bytes:
        return f"{real.name} ({format_size(real.total_bytes)})"
    advertised = format_size(shown.total_bytes)
    return f"{real.name}: {advertised} advertised of {format_size(real.total_bytes)}"


def worker(args: argparse.Namespace, fail: Any) -> int:
    """Serve until Ctrl+C (exit 0); ``fail(line)`` prints one line and returns 2."""
    from ..core.cpu_threads import default_threads

    try:
        if not 0 < args.port < 65536:
            raise WorkerError(f"--port must be 1 to 65535, not {args.port}")
        sizes = _sizes(args.mem)
        devices = choose_devices(_indexes(args.device))
        caps = _caps(sizes, len(devices))
        check_free(args.host, args.port)
        cache = Path(args.cache).expanduser() if args.cache else None
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
        shown = _advertise(devices, caps)
    except (WorkerError, CapError, OSError) as exc:
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
            {
                "name": d.name,
                "description": d.description,
                "total_bytes": d.total_bytes,
                "advertised_bytes": a.total_bytes,
            }
            for (d, _), a in zip(devices, shown, strict=True)
        ],
        "cache": str(cache) if cache else None,
        "pid": os.getpid(),
    }
    if args.json:
        print(json.dumps(facts), file=out, flush=True)
    else:
        names = "; ".join(_label(d, a) for (d, _), a in zip(devices, shown, strict=True))
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
