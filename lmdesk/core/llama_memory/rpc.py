"""A loopback llama.cpp RPC server: a stand-in GPU that reports what it was given.

llama.cpp places offloaded layers on an RPC device exactly as on a CUDA card and
logs each buffer, so the estimator's GPU column can be checked on a machine
without a GPU (DESIGN.md). The server runs the CPU backend in a child process.
"""

from __future__ import annotations

import ctypes
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType


def rpc_library() -> ctypes.CDLL:
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    candidates = sorted(lib_dir.glob("libggml-rpc.*")) + sorted(lib_dir.glob("ggml-rpc.*"))
    if not candidates:
        raise RuntimeError(
            "this llama-cpp-python has no RPC backend; reinstall it with install.py "
            "(it builds with -DGGML_RPC=on)"
        )
    return ctypes.CDLL(str(candidates[0]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RpcServer:
    """``with RpcServer() as server: measure(..., device=server.device)``."""

    def __init__(self, *, threads: int = 1) -> None:
        self.endpoint = f"127.0.0.1:{_free_port()}"
        self.threads = threads
        self._process: subprocess.Popen[bytes] | None = None
        self.device: int | None = None

    def __enter__(self) -> RpcServer:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lmdesk.core.llama_memory.rpc",
                self.endpoint,
                str(self.threads),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        host, port = self.endpoint.split(":")
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("the llama.cpp RPC server did not start") from None
                time.sleep(0.05)
        self.device = _register(self.endpoint)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


def _register(endpoint: str) -> int:
    import llama_cpp  # loads libggml first

    rpc = rpc_library()
    rpc.ggml_backend_rpc_add_server.restype = ctypes.c_void_p
    rpc.ggml_backend_rpc_add_server.argtypes = [ctypes.c_char_p]
    reg = rpc.ggml_backend_rpc_add_server(endpoint.encode())
    ggml = ctypes.CDLL(str(Path(llama_cpp.__file__).parent / "lib" / "libggml.so"))
    ggml.ggml_backend_reg_dev_get.restype = ctypes.c_void_p
    ggml.ggml_backend_reg_dev_get.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    device = ggml.ggml_backend_reg_dev_get(reg, 0)
    if not device:
        raise RuntimeError(f"the RPC server at {endpoint} offers no device")
    return int(device)


def _serve(endpoint: str, threads: int) -> None:
    """The child's side: this machine's CPU as the one device (what `lmdesk worker` serves)."""
    from lmdesk.core.rpc_worker import local_devices, parse_endpoint, serve

    host, port = parse_endpoint(endpoint)
    cpu = [(device, handle) for device, handle in local_devices() if device.kind == "CPU"]
    serve(host, port, cpu[:1], cache=None, threads=threads)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
