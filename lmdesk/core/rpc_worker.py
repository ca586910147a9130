"""`lmdesk worker`: this machine's llama.cpp devices, served to other lmdesk instances.

llama.cpp's RPC backend (`libggml-rpc`, built in by install.py) lends a machine's devices
to another process over TCP: the other side places layers there as on a local GPU. The
server is llama.cpp's own `ggml_backend_rpc_start_server`; this module picks the devices,
checks the address, and asks a worker what it offers. ``--mem`` (advertise less memory
than a device has) is `rpc_device_cap`'s.

Asking goes through a child process (`python -m lmdesk.core.rpc_worker probe HOST:PORT`):
llama.cpp's RPC client aborts the process on a peer that speaks another protocol, so a
garbage answer must not reach the app's own process. The RPC protocol has no
authentication or encryption: serve on anything but loopback only on a trusted network.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PORT = 50052
"""llama.cpp's rpc-server's default port."""
PROBE_TIMEOUT_S = 10.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
UNSAFE_WARNING = (
    "warning: llama.cpp's RPC protocol has no authentication or encryption; anyone who "
    "can reach {host}:{port} can use this machine's devices and read what runs on them. "
    "Serve on anything but 127.0.0.1 only on a network you trust."
)

_DEVICE_TYPES = {0: "CPU", 1: "GPU", 2: "iGPU", 3: "accelerator"}


class WorkerError(ValueError):
    """A worker address that is not one, or a worker that cannot be used; ``str()`` says why."""


@dataclass(frozen=True)
class Device:
    """One device a worker offers (or this machine has)."""

    index: int
    name: str
    description: str
    kind: str
    free_bytes: int
    total_bytes: int


def parse_endpoint(text: str, *, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``host:port`` (or ``host``, ``[v6]:port``) checked; raises `WorkerError` saying why."""
    text = text.strip()
    if not text:
        raise WorkerError("a worker address is host:port, e.g. 192.168.1.20:50052")
    host, port_text = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not host or any(c.isspace() for c in host) or len(host) > 253:
        raise WorkerError(f"{text[:80]!r} is not host:port")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise WorkerError(f"{port_text[:20]!r} is not a port (1 to 65535) in {text[:80]!r}")
        port = int(port_text)
    else:
        port = default_port
    return host, port


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lib_dir() -> Path:
    import llama_cpp

    return Path(llama_cpp.__file__).parent / "lib"


def _libraries() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    """(libggml, libggml-rpc), with the argument types this module uses."""
    from lmdesk.core.llama_memory.rpc import rpc_library

    ggml = ctypes.CDLL(str(_lib_dir() / "libggml.so"))
    ggml.ggml_backend_load_all.restype = None
    ggml.ggml_backend_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
    ggml.ggml_backend_dev_get.restype = ctypes.c_void_p
    for name in ("ggml_backend_dev_name", "ggml_backend_dev_description"):
        getattr(ggml, name).argtypes = [ctypes.c_void_p]
        getattr(ggml, name).restype = ctypes.c_char_p
    ggml.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_dev_type.restype = ctypes.c_int
    size_p = ctypes.POINTER(ctypes.c_size_t)
    ggml.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, size_p, size_p]
    rpc = rpc_library()
    rpc.ggml_backend_rpc_start_server.argtypes = [
        ctypes.c_char_p,
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
        ctypes.POINTER(ctypes.c_void_p),
    ]
    rpc.ggml_backend_rpc_get_device_memory.argtypes = [
        ctypes.c_char_p,
        ctypes.c_uint32,
        size_p,
        size_p,
    ]
    rpc.ggml_backend_rpc_add_server.argtypes = [ctypes.c_char_p]
    rpc.ggml_backend_rpc_add_server.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_dev_count.argtypes = [ctypes.c_void_p]
    ggml.ggml_backend_reg_dev_count.restype = ctypes.c_size_t
    ggml.ggml_backend_reg_dev_get.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    ggml.ggml_backend_reg_dev_get.restype = ctypes.c_void_p
    return ggml, rpc


def add_server(endpoint: str) -> list[int] | None:
    """Register the worker at `endpoint` with llama.cpp's RPC backend in this process: its
    devices' ggml handles, or None when llama.cpp refuses it. A peer that speaks garbage
    aborts the process, so ask `probe` (a child) first."""
    ggml, rpc = _libraries()
    reg = rpc.ggml_backend_rpc_add_server(endpoint.encode())
    if not reg:
        return None
    count = int(ggml.ggml_backend_reg_dev_count(reg))
    return [int(ggml.ggml_backend_reg_dev_get(reg, i)) for i in range(count)]


def local_devices() -> list[tuple[Device, int]]:
    """This machine's llama.cpp devices (RPC ones left out) and their ggml handles."""
    ggml, _ = _libraries()
    found: list[tuple[Device, int]] = []
    for i in range(int(ggml.ggml_backend_dev_count())):
        handle = ggml.ggml_backend_dev_get(i)
        name = ggml.ggml_backend_dev_name(handle).decode()
        if name.upper().startswith("RPC"):
            continue
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        ggml.ggml_backend_dev_memory(handle, ctypes.byref(free), ctypes.byref(total))
        kind = _DEVICE_TYPES.get(int(ggml.ggml_backend_dev_type(handle)), "device")
        description = ggml.ggml_backend_dev_description(handle).decode()
        device = Device(len(found), name, description, kind, free.value, total.value)
        found.append((device, int(handle)))
    return found


def choose_devices(chosen: list[int] | None) -> list[tuple[Device, int]]:
    """The devices to serve: all (None) or those listed by index; `WorkerError` for others."""
    devices = local_devices()
    if chosen is None:
        return devices
    bad = [i for i in chosen if not 0 <= i < len(devices)]
    if bad:
        names = ", ".join(f"{d.index}: {d.name}" for d, _ in devices)
        raise WorkerError(f"no device {bad[0]} here; this machine has {names}")
    return [devices[i] for i in dict.fromkeys(chosen)]


def check_free(host: str, port: int) -> None:
    """Raise `WorkerError` when ``host:port`` cannot be listened on (in use, not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise WorkerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve(
    host: str, port: int, devices: list[tuple[Device, int]], *, cache: Path | None, threads: int
) -> None:
    """Serve ``devices`` on ``host:port`` until the process ends (blocks, in llama.cpp)."""
    _, rpc = _libraries()
    handles = (ctypes.c_void_p * len(devices))(*(handle for _, handle in devices))
    cache_dir = str(cache).encode() if cache is not None else None
    endpoint = f"{host}:{port}".encode()
    rpc.ggml_backend_rpc_start_server(endpoint, cache_dir, threads, len(devices), handles)


def probe(endpoint: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> list[Device]:
    """What the worker at ``endpoint`` offers: its devices' memory, asked from a child
    process (see the module's note). Raises `WorkerError` for an unreachable or odd peer."""
    host, port = parse_endpoint(endpoint)
    try:
        socket.create_connection((host, port), timeout=min(timeout_s, 3.0)).close()
    except OSError as exc:
        raise WorkerError(f"no worker answers at {host}:{port} ({exc.strerror or exc})") from exc
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lmdesk.core.rpc_worker", "probe", f"{host}:{port}"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(
            f"{host}:{port} did not answer as a llama.cpp RPC worker within {timeout_s:.0f} s"
        ) from None
    if done.returncode != 0:
        raise WorkerError(
            f"{host}:{port} is not a llama.cpp RPC worker this lmdesk can use "
            "(another program, or a worker of another llama.cpp version)"
        )
    return [Device(**item) for item in json.loads(done.stdout)]


def _probe_here(endpoint: str) -> None:
    """The child's side of `probe`: register the worker with llama.cpp's RPC backend, list
    the devices it offers and their memory, print JSON (a bad peer aborts this process)."""
    ggml, _ = _libraries()
    handles = add_server(endpoint)
    if handles is None:
        sys.exit(3)
    devices = []
    for index, handle in enumerate(handles):
        free, total = ctypes.c_size_t(), ctypes.c_size_t()
        ggml.ggml_backend_dev_memory(handle, ctypes.byref(free), ctypes.byref(total))
        name = ggml.ggml_backend_dev_name(handle).decode()
        description = ggml.ggml_backend_dev_description(handle).decode()
        devices.append(Device(index, name, description, "remote", free.value, total.value))
    if not devices:
        sys.exit(3)
    print(json.dumps([asdict(d) for d in devices]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "probe":
        _probe_here(sys.argv[2])
