"""install.py: the llama-cpp-python pin it installs, and its check of Qt's X11 libraries.

install.py runs before lmdesk is installed, so it is loaded here by its path, as
`python3 install.py` runs it, and its functions are called on this environment.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from qt_plugin_copies import pyside_without

from lmdesk.core import qt_platform_libs
from lmdesk.core.gpus.llama_build import PINNED_VERSION

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def install() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lmdesk_install_script", ROOT / "install.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_llama_cpp_python_pin_for_pyproject_install_and_the_cuda_hint(
    install: ModuleType,
) -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    pinned = f"llama-cpp-python=={PINNED_VERSION}"
    assert pinned in dependencies  # exactly the release the estimator is calibrated on
    assert pinned == install.LLAMA
    import llama_cpp

    assert llama_cpp.__version__ == PINNED_VERSION  # what these tests run on


def test_install_checks_with_lmdesks_own_module(install: ModuleType) -> None:
    loaded = install.qt_platform_libs()
    assert loaded.__file__ == qt_platform_libs.__file__
    assert loaded.PACKAGES == qt_platform_libs.PACKAGES
    assert install.pyside_dir(Path(sys.executable)) == qt_platform_libs.find_pyside_dir()


def test_nothing_missing_here_so_run_may_open_the_window(
    install: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert install.qt_can_open_window(Path(sys.executable), opening=True) is True
    assert capsys.readouterr().out == ""


def test_a_missing_library_warns_and_stops_only_a_run_on_x11(
    install: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake = pyside_without("libxcb-keysyms.so.1", tmp_path)
    monkeypatch.setattr(install, "pyside_dir", lambda python: fake)
    package = {"debian": "libxcb-keysyms1", "fedora": "xcb-util-keysyms"}
    family = qt_platform_libs.distro_family() or "debian"
    line = f"[install]     {qt_platform_libs.INSTALLERS[family]} {package[family]}"

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # headless CI: a warning
    assert install.qt_can_open_window(Path(sys.executable), opening=True) is True
    assert line in capsys.readouterr().out.splitlines()

    assert install.qt_can_open_window(Path(sys.executable), opening=False) is True
    capsys.readouterr()

    monkeypatch.delenv("QT_QPA_PLATFORM")  # --run would open the window on X11: stop
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert install.qt_can_open_window(Path(sys.executable), opening=True) is False
    assert line in capsys.readouterr().out.splitlines()
