"""The real app, end to end, as a subprocess with its own profile folder.

First run: the welcome page fetches the starter model (from a local hub on
127.0.0.1), the app loads it with an auto-fitted offload, a message typed into
the composer and sent with Enter gets a streamed reply, and the app quits.
Second run: the app opens on the chat, loads the last model by itself, and the
conversation is still there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hub_server import HubServer, isolate_hf_home

from lmdesk.core import starter
from lmdesk.core.settings import load_settings, save_settings

DRIVER = Path(__file__).with_name("e2e_driver.py")


def _run_app(home: Path, phase: str, out: Path) -> dict:  # type: ignore[type-arg]
    env = {k: v for k, v in os.environ.items() if k != "LMDESK_NO_AUTOLOAD"}
    env.update(
        LMDESK_HOME=str(home),
        LMDESK_DRIVER=str(DRIVER),
        E2E_PHASE=phase,
        E2E_OUT=str(out),
        QT_QPA_PLATFORM="offscreen",
    )
    result = subprocess.run(
        [sys.executable, "-m", "lmdesk"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, _what_it_left(home, result.stderr)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _what_it_left(home: Path, stderr: str) -> str:
    """The app's stderr, its crash traces and the end of its log: a crash in native code
    says nothing on stderr, but faulthandler wrote every thread's stack to crash.log."""
    logs = home / "logs"
    parts = [stderr[-2000:]]
    for name in ("crash.log", "lmdesk.log"):
        if (logs / name).exists():
            parts.append(f"--- {name}\n" + (logs / name).read_text(errors="replace")[-6000:])
    return "\n".join(parts)


@pytest.mark.slow
def test_starter_load_reply_quit_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    home = tmp_path / "profile"
    monkeypatch.setenv("LMDESK_HOME", str(home))
    with HubServer() as hub:
        hub.add_repo(starter.HF_REPO_ID, {starter.FILENAME: smollm2_path})
        settings = load_settings()
        small = replace(settings.load, n_threads=1, n_ctx=1024)  # 2 shared cores here
        save_settings(replace(settings, hf_endpoint=hub.endpoint, load=small))
        first = _run_app(home, "first", tmp_path / "first.json")
        assert hub.bytes_served(starter.HF_REPO_ID, starter.FILENAME) == starter.SIZE

    assert first["welcome"] is True
    assert first["n_gpu_layers"] == 0  # no GPU here: the fit keeps every layer on the CPU
    roles = [m[0] for m in first["messages"]]
    assert roles == ["user", "assistant"]
    assert first["messages"][0][1] == "Name one colour of the sky."
    assert first["messages"][1][1].strip() and first["messages"][1][2] == "complete"

    second = _run_app(home, "second", tmp_path / "second.json")
    assert second["welcome"] is False
    assert second["conversations"] == [first["messages"]]
