"""The wheel: it carries the icons and the desktop entry, and an installed lmdesk finds them.

Builds the real wheel from this checkout (no build isolation: setuptools and wheel come
with the test tools), installs it into a fresh virtual environment, and asks that
environment's lmdesk where its icons are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = "lmdesk-0.1.0.data/data/share"
PIP = (sys.executable, "-m", "pip", "-q", "--disable-pip-version-check")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(ROOT)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("lmdesk-*.whl")
    return built


def test_the_wheel_carries_the_icons_and_the_desktop_entry(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for size in (16, 32, 64, 128, 256):
        assert f"{DATA}/lmdesk/icons/lmdesk-{size}.png" in names
    assert f"{DATA}/applications/lmdesk.desktop" in names
    assert f"{DATA}/icons/hicolor/scalable/apps/lmdesk.svg" in names
    assert "lmdesk/ui/shell/main_window.py" in names and "lmdesk/core/estimate/__init__.py" in names
    assert not any(name.startswith(("tests/", "bench/")) for name in names)


def test_an_installed_lmdesk_finds_its_icons(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    # --ignore-installed: without it pip first uninstalls the lmdesk of the environment
    # running these tests, and every later `python -c "import lmdesk"` there fails.
    subprocess.run(
        [*PIP, "install", "--no-deps", "--ignore-installed", "--prefix", str(env_dir), str(wheel)],
        check=True,
        timeout=300,
    )
    still_here = [sys.executable, "-c", "import lmdesk"]  # outside the checkout, as apps run
    assert subprocess.run(still_here, cwd=tmp_path, capture_output=True).returncode == 0
    python = env_dir / "bin" / "python"
    # PySide6 and the rest come from the test environment; lmdesk from the new one (first).
    site = sysconfig.get_paths(vars={"base": str(env_dir), "platbase": str(env_dir)})["purelib"]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([site, sysconfig.get_paths()["purelib"]])}
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import lmdesk.ui.kit.icons as i; print(i.__file__); print(i.resources_dir())",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert found[0].startswith(str(env_dir))  # the installed copy, not this checkout
    assert found[1] == str(env_dir / "share" / "lmdesk")
    assert (env_dir / "share/lmdesk/icons/lmdesk-256.png").is_file()
