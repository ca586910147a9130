"""The real app as a subprocess: start, paint, close; and `lmdesk --self-test`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from shell_helpers import place_model

from lmdesk.core.logs import LOG_FILE


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LMDESK_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    env.pop("LMDESK_STARTUP_MARKER", None)
    return {**env, **extra}


def test_app_paints_its_window_and_closes_cleanly(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", tmp_path / "painted"
    start = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "lmdesk"],
        env=_env(home, LMDESK_STARTUP_MARKER=str(marker)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    end = time.time()
    assert done.returncode == 0, done.stderr
    painted = float(marker.read_text(encoding="utf-8"))
    assert start < painted < end
    log = (home / "logs" / LOG_FILE).read_text(encoding="utf-8")
    assert "lmdesk 0.1.0 starting" in log and "lmdesk closed" in log
    assert "Traceback" not in log
    assert (home / "config" / "window.ini").is_file()  # the window saved its place on close


def test_self_test_renders_loads_and_generates(tmp_path: Path, smollm2_path: Path) -> None:
    home = tmp_path / "home"
    place_model(home / "data" / "models", smollm2_path)
    done = subprocess.run(
        [sys.executable, "-m", "lmdesk", "--self-test"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("self-test: window rendered ")
    generated = next(line for line in lines if line.startswith("self-test: generated "))
    assert int(generated.split()[2]) > 0
    assert lines[-1] == "self-test: ok"


def test_self_test_fails_with_a_reason(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the models folder should be")
    settings = {"version": 1, "models_dir": str(blocker)}
    (home / "config" / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "lmdesk", "--self-test"],
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("self-test failed: ")
    assert "not-a-folder" in done.stderr


@pytest.mark.parametrize("argv", [["--self-test"]])
def test_run_app_handles_self_test_flag(argv: list[str], tmp_path: Path) -> None:
    """`run_app(['--self-test'])` is the same check (for launchers that call run_app)."""
    from lmdesk.ui.app import parse_args

    args, qt_args = parse_args([*argv, "-platform", "offscreen"])
    assert args.self_test and qt_args == ["-platform", "offscreen"]


def test_a_crash_in_native_code_leaves_every_threads_stack_in_crash_log(tmp_path: Path) -> None:
    """A real SIGSEGV (faulthandler's own) after the app's crash tracing is on: the process
    ends, and crash.log in the log folder holds the fault and the Python stack."""
    crash = tmp_path / "crash.log"
    code = (
        "import faulthandler, sys\n"
        "from pathlib import Path\n"
        "from lmdesk.ui.app import _trace_native_crashes\n"
        f"_trace_native_crashes(Path({str(crash)!r}))\n"
        "def deep_in_llama_cpp():\n"
        "    faulthandler._sigsegv()\n"
        "deep_in_llama_cpp()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    text = crash.read_text(encoding="utf-8")
    assert text.startswith("--- lmdesk 0.1.0 started")
    assert "Segmentation fault" in text and "deep_in_llama_cpp" in text
