"""Real OpenAI-compatible servers on 127.0.0.1 for the remote-engine tests, as subprocesses
(so a test can kill one in the middle of a reply): ``lmdesk serve`` and llama-cpp-python's
own ``python -m llama_cpp.server`` (its ``[server]`` extra), both on the real SmolLM2."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_S = 120.0
LLAMA_CPP_SERVER = Path(__file__).with_name("llama_cpp_server_main.py")
"""``python -m llama_cpp.server`` with lmdesk's CPU weight-layout policy (see the file)."""


@dataclass
class RunningServer:
    process: subprocess.Popen[bytes]
    base_url: str
    """Without ``/v1`` (as a person might type it)."""
    model_id: str

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(process: subprocess.Popen[bytes], url: str, key: str | None) -> None:
    deadline = time.monotonic() + STARTUP_S
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server ended at start (status {process.returncode})")
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {STARTUP_S:.0f} s")


@contextmanager
def _running(
    args: list[str], base_url: str, model_id: str, key: str | None
) -> Iterator[RunningServer]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = RunningServer(process, base_url, model_id)
    try:
        _wait_listening(process, f"{base_url}/v1/models", key)
        yield server
    finally:
        server.kill()


@contextmanager
def lmdesk_serve(model: Path, *, key: str | None = None, tmp: Path) -> Iterator[RunningServer]:
    """``lmdesk serve MODEL`` on a free port (the model loaded, one thread, n_ctx 512)."""
    port = free_port()
    args = [sys.executable, "-m", "lmdesk", "serve", str(model), "--port", str(port)]
    args += ["--ctx", "512", "--threads", "1"]
    if key:
        key_file = tmp / "lmdesk-serve.key"
        key_file.write_text(key)
        args += ["--api-key-file", str(key_file)]
    with _running(args, f"http://127.0.0.1:{port}", model.name.removesuffix(".gguf"), key) as s:
        yield s


@contextmanager
def llama_cpp_server(model: Path, *, key: str | None = None) -> Iterator[RunningServer]:
    """llama-cpp-python's own server (``python -m llama_cpp.server``), alias "smollm2"."""
    port = free_port()
    args = [sys.executable, str(LLAMA_CPP_SERVER), "--model", str(model)]
    args += ["--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--n_ctx", "512", "--n_threads", "1", "--verbose", "False"]
    if key:
        args += ["--api_key", key]
    with _running(args, f"http://127.0.0.1:{port}", "smollm2", key) as server:
        yield server


def listing_of(base_url: str) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/v1/models", timeout=5) as response:
        return [m["id"] for m in json.loads(response.read())["data"]]
