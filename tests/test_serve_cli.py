"""`lmdesk serve` as a real subprocess: a JSON startup line, served by the official openai
SDK, SIGINT stops it with exit 0; a port in use and bad arguments give exit 2, one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import openai

from lmdesk.core.server import bind


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lmdesk", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_starts_serves_and_stops_on_sigint(smollm2_path: Path) -> None:
    process = _serve(str(smollm2_path), "--port", "0", "--ctx", "512", "--threads", "1", "--json")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else ""
        facts = json.loads(line)
        assert facts["event"] == "listening" and facts["host"] == "127.0.0.1"
        assert facts["model"] == smollm2_path.name.removesuffix(".gguf")
        assert facts["base_url"] == f"http://127.0.0.1:{facts['port']}/v1"
        client = openai.OpenAI(base_url=facts["base_url"], api_key="none", max_retries=0)
        reply = client.chat.completions.create(
            model=facts["model"], messages=[{"role": "user", "content": "Hi"}], max_tokens=3
        )
        assert reply.usage is not None and 1 <= reply.usage.completion_tokens <= 3
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "Traceback" not in (process.stderr.read() if process.stderr else "")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_a_port_in_use_and_bad_arguments_exit_2_with_one_line() -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lmdesk", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        taken.close()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr
    for args in (["--gpu-layers", "many"], ["--port", "70000"], ["--host", "0.0.0.0"]):
        bad = subprocess.run(
            [sys.executable, "-m", "lmdesk", "serve", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith("lmdesk: ") and bad.stderr.count("\n") == 1
