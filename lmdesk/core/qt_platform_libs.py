"""Can Qt's X11 platform plugin load here, and if not, which packages does it lack?

On a fresh Debian/Ubuntu desktop, Qt's xcb plugin needs helper libraries that are
often not installed (libxcb-cursor0 since Qt 6.5, libxcb-icccm4, libxcb-keysyms1, ...).
Without them Qt prints "Could not load the Qt platform plugin xcb" and aborts the
process, so the app cannot catch it: this module asks `ldd` first and names the
one `apt`/`dnf` command that installs what is missing.

Standard library only and no lmdesk import: install.py loads this file by its
path, before lmdesk (or PySide6) is installed in its own environment.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: soname -> (Debian/Ubuntu package, Fedora package), for what libqxcb.so and
#: libQt6XcbQpa.so load. Most of them are absent only from minimal installs.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
}
FAMILIES = ("debian", "fedora")  # the index into PACKAGES' pairs
INSTALLERS = {"debian": "sudo apt install", "fedora": "sudo dnf install"}
PLUGIN = Path("Qt", "plugins", "platforms", "libqxcb.so")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)


def missing_sonames(library: Path, *, env: Mapping[str, str] | None = None) -> list[str]:
    """The libraries `library` needs (directly or not) that the loader cannot find.

    Empty when all are found, or when `ldd` itself is not there (nothing to say then).
    A needed entry written as a path (`/opt/x/libfoo.so.1 => not found`) counts by its name.
    """
    try:
        result = subprocess.run(
            ["ldd", str(library)],
            capture_output=True,
            text=True,
            env=None if env is None else dict(env),
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return list(dict.fromkeys(Path(name).name for name in _NOT_FOUND.findall(result.stdout)))


def distro_family(os_release: Path = Path("/etc/os-release")) -> str | None:
    """'debian' (Debian, Ubuntu, Mint, ...), 'fedora' (Fedora, RHEL, ...) or None."""
    try:
        text = os_release.read_text(encoding="utf-8")
    except OSError:
        return None
    fields = dict(
        (key, value.strip().strip("\"'"))
        for key, _, value in (line.partition("=") for line in text.splitlines())
    )
    names = {fields.get("ID", ""), *fields.get("ID_LIKE", "").split()}
    if names & {"debian", "ubuntu"}:
        return "debian"
    if names & {"fedora", "rhel", "centos"}:
        return "fedora"
    return None


def install_commands(sonames: Sequence[str], family: str | None) -> list[str]:
    """The one command that installs the packages behind `sonames` for `family`
    (both the apt and the dnf one when the family is unknown); none for unknown names."""
    commands = []
    for name in [family] if family in FAMILIES else list(FAMILIES):
        index = FAMILIES.index(name)
        packages = dict.fromkeys(PACKAGES[s][index] for s in sonames if s in PACKAGES)
        if packages:
            commands.append(f"{INSTALLERS[name]} {' '.join(packages)}")
    return commands


def explain(sonames: Sequence[str], family: str | None) -> str:
    """What a person reads: what is missing, and the command that fixes it."""
    lines = [
        "Qt's X11 platform plugin (xcb) cannot load: these libraries are missing: "
        + ", ".join(sonames)
        + "."
    ]
    commands = install_commands(sonames, family)
    if commands:
        lines.append("Install them with:" if len(commands) == 1 else "Install them with one of:")
        lines += [f"    {command}" for command in commands]
    unknown = [s for s in sonames if s not in PACKAGES]
    if unknown:
        lines.append(
            "Reinstall PySide6 if the missing libraries are Qt's own: " + ", ".join(unknown)
        )
    return "\n".join(lines)


def pyside_plugin(pyside_dir: Path) -> Path:
    """libqxcb.so inside a PySide6 package folder."""
    return pyside_dir / PLUGIN


def uses_xcb(environ: Mapping[str, str], qt_args: Sequence[str] = ()) -> bool:
    """Whether Qt will start on its xcb plugin: on Linux, when neither `-platform`
    nor QT_QPA_PLATFORM names another one, and the session is not Wayland."""
    if not sys.platform.startswith("linux"):
        return False
    platform = environ.get("QT_QPA_PLATFORM", "")
    for index, arg in enumerate(qt_args[:-1]):
        if arg in ("-platform", "--platform"):
            platform = qt_args[index + 1]
    if platform:
        return platform.split(":")[0].split(";")[0] == "xcb"
    # Qt tries Wayland first in a Wayland session; xcb is then only the fallback.
    return environ.get("XDG_SESSION_TYPE") != "wayland" or not environ.get("WAYLAND_DISPLAY")


def find_pyside_dir() -> Path | None:
    """The folder of this interpreter's PySide6, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def check(pyside_dir: Path | None = None) -> str | None:
    """None when Qt's xcb plugin can load (or this is not Linux), else what to do.

    `pyside_dir` is the PySide6 folder to check; by default this interpreter's.
    """
    if not sys.platform.startswith("linux"):
        return None
    pyside_dir = pyside_dir or find_pyside_dir()
    if pyside_dir is None:
        return None
    plugin = pyside_plugin(pyside_dir)
    if not plugin.is_file():
        return None
    missing = missing_sonames(plugin, env=os.environ)
    # Only the system's libraries count: Qt's own may be found inside the process
    # (a PyInstaller bundle lays them out its way) even where a separate ldd does not.
    if not any(soname in PACKAGES for soname in missing):
        return None
    return explain(missing, distro_family())
