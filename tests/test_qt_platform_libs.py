"""Qt's X11 libraries: the real `ldd` on the real plugin, and on a copy that lacks one.

On a desktop without libxcb-cursor0 Qt aborts the process with "Could not load the
Qt platform plugin xcb"; lmdesk checks first and names the package to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from qt_plugin_copies import REAL_PYSIDE, pyside_without

from lmdesk.core import qt_platform_libs as libs
from lmdesk.ui.app import PLATFORM_UNAVAILABLE_EXIT

FAMILY = libs.distro_family()
CURSOR_PACKAGE = {"debian": "libxcb-cursor0", "fedora": "xcb-util-cursor"}


def test_the_real_plugin_finds_every_library_here() -> None:
    assert (REAL_PYSIDE / libs.PLUGIN).is_file()
    assert libs.find_pyside_dir() == REAL_PYSIDE
    assert libs.missing_sonames(REAL_PYSIDE / libs.PLUGIN) == []
    assert libs.check() is None


def test_a_missing_xcb_cursor_is_named_with_its_package(tmp_path: Path) -> None:
    fake = pyside_without("libxcb-cursor.so.0", tmp_path)
    assert libs.missing_sonames(fake / libs.PLUGIN) == ["libxcb-cursor.so.0"]
    message = libs.check(fake)
    assert message is not None
    assert "libxcb-cursor.so.0" in message
    if FAMILY is not None:  # this machine's family: its one install line
        assert f"    {libs.INSTALLERS[FAMILY]} {CURSOR_PACKAGE[FAMILY]}" in message.splitlines()
    else:
        assert "    sudo apt install libxcb-cursor0" in message.splitlines()


def test_only_missing_system_libraries_stop_the_start(tmp_path: Path) -> None:
    fake = pyside_without("libQt6XcbQpa.so.6", tmp_path)  # Qt's own: Qt may still find it
    assert libs.missing_sonames(fake / libs.PLUGIN) == ["libQt6XcbQpa.so.6"]
    assert libs.check(fake) is None


def test_install_commands_name_each_package_once() -> None:
    missing = ["libxcb-randr.so.0", "libxcb-shape.so.0", "libxcb-icccm.so.4"]
    assert libs.install_commands(missing, "debian") == [
        "sudo apt install libxcb-randr0 libxcb-shape0 libxcb-icccm4"
    ]
    assert libs.install_commands(missing, "fedora") == ["sudo dnf install libxcb xcb-util-wm"]
    assert libs.install_commands(missing, None) == [
        "sudo apt install libxcb-randr0 libxcb-shape0 libxcb-icccm4",
        "sudo dnf install libxcb xcb-util-wm",
    ]


def test_a_library_of_qt_itself_says_to_reinstall_pyside() -> None:
    message = libs.explain(["libQt6XcbQpa.so.6", "libxcb-keysyms.so.1"], "debian")
    assert message.splitlines()[1:] == [
        "Install them with:",
        "    sudo apt install libxcb-keysyms1",
        "Reinstall PySide6 if the missing libraries are Qt's own: libQt6XcbQpa.so.6",
    ]


@pytest.mark.parametrize(
    ("text", "family"),
    [
        ('ID=debian\nVERSION_ID="12"\n', "debian"),
        ("ID=ubuntu\nID_LIKE=debian\n", "debian"),
        ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "debian"),
        ("ID=fedora\n", "fedora"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
        ("ID=arch\n", None),
    ],
)
def test_the_distribution_family_comes_from_os_release(
    tmp_path: Path, text: str, family: str | None
) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(text, encoding="utf-8")
    assert libs.distro_family(os_release) == family
    assert libs.distro_family(tmp_path / "absent") is None


@pytest.mark.parametrize(
    ("environ", "qt_args", "xcb"),
    [
        ({}, [], True),
        ({"QT_QPA_PLATFORM": "xcb"}, [], True),
        ({"QT_QPA_PLATFORM": "offscreen"}, [], False),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, [], False),
        ({"QT_QPA_PLATFORM": "offscreen"}, ["-platform", "xcb"], True),
        ({}, ["-platform", "offscreen"], False),
        ({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, [], False),
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, [], True),
    ],
)
def test_which_starts_use_the_xcb_plugin(
    environ: dict[str, str], qt_args: list[str], xcb: bool
) -> None:
    assert libs.uses_xcb(environ, qt_args) is xcb


CHILD = """
import sys
from pathlib import Path

import lmdesk.core.qt_platform_libs as libs

libs.find_pyside_dir = lambda: Path(sys.argv[1])  # where PySide6 is; ldd is real
from lmdesk.ui.app import run_app

sys.exit(run_app([]))
"""


def test_the_app_says_what_to_install_instead_of_aborting(tmp_path: Path) -> None:
    fake = pyside_without("libxcb-icccm.so.4", tmp_path)
    env = {**os.environ, "LMDESK_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "xcb"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(fake)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == PLATFORM_UNAVAILABLE_EXIT == 2, done.stderr
    assert done.stderr.startswith("lmdesk cannot open its window.\n")
    assert "libxcb-icccm.so.4" in done.stderr
    package = {"debian": "libxcb-icccm4", "fedora": "xcb-util-wm"}.get(FAMILY or "", "")
    assert f"install {package}" in done.stderr
    assert "Could not load the Qt platform plugin" not in done.stderr  # Qt never tried


@pytest.fixture
def x_display() -> Iterator[str]:
    """A real X server (Xvfb) on a free display number, closed afterwards."""
    if shutil.which("Xvfb") is None:
        pytest.skip("needs Xvfb (apt install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            number = numbers.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_with_the_libraries_the_app_opens_its_window_on_x11(tmp_path: Path, x_display: str) -> None:
    marker = tmp_path / "painted"
    env = {
        **os.environ,
        "LMDESK_HOME": str(tmp_path / "home"),
        "QT_QPA_PLATFORM": "xcb",
        "DISPLAY": x_display,
        "LMDESK_STARTUP_MARKER": str(marker),
    }
    done = subprocess.run(
        [sys.executable, "-m", "lmdesk"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert marker.is_file()  # painted on the X server, then closed
