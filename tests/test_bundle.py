"""The PyInstaller bundle: build it from packaging/pyinstaller.spec and run its self-test.

Needs PyInstaller (`pip install pyinstaller`); skipped, saying so, without it.
The built app runs offscreen with a fresh profile holding the real SmolLM2
model, renders its window, loads the model and generates tokens.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from shell_helpers import place_model

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "pyinstaller.spec"
MAX_BUNDLE_BYTES = 400 * 1024**2


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_bundle_builds_and_passes_its_self_test(tmp_path: Path, smollm2_path: Path) -> None:
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed: pip install pyinstaller")
    dist, work = tmp_path / "dist", tmp_path / "work"
    command = [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--log-level"]
    build = subprocess.run(
        [*command, "WARN", "--distpath", str(dist), "--workpath", str(work)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    app = dist / "lmdesk" / "lmdesk"
    internal = dist / "lmdesk" / "_internal"
    assert app.is_file() and os.access(app, os.X_OK)
    assert (internal / "llama_cpp" / "lib" / "libllama.so").is_file()
    assert (internal / "PySide6" / "Qt" / "plugins" / "platforms" / "libqoffscreen.so").is_file()
    assert (internal / "resources" / "icons" / "lmdesk-256.png").is_file()

    home = tmp_path / "home"
    place_model(home / "data" / "models", smollm2_path)
    env = {**os.environ, "LMDESK_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run(
        [str(app), "--self-test"], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    generated = next(line for line in lines if line.startswith("self-test: generated "))
    assert int(generated.split()[2]) > 0
    assert lines[-1] == "self-test: ok"

    size = folder_size(dist / "lmdesk")
    print(f"bundle: {size / 1024**2:.0f} MiB in {dist / 'lmdesk'}")
    assert size < MAX_BUNDLE_BYTES
