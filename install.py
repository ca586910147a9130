#!/usr/bin/env python3
"""Install lmdesk with the right llama.cpp build for this machine, then run it or its tests.

    python3 install.py --run     install, fetch the starter model, open the app
    python3 install.py --test    install with the test tools, then run the test suite
    python3 install.py           install only

Outside a virtual environment it creates ``.venv`` next to this file and uses
that. llama-cpp-python is compiled from source: always with the RPC backend
(lmdesk uses it to check GPU plans without a GPU and to spread models over
machines) and with CUDA when an NVIDIA driver and the CUDA toolkit are present.
pip reuses a cached wheel whatever the build flags say, so the installed build
is checked afterwards and rebuilt without the cache when it is not the one
asked for. On Linux it then checks that Qt's X11 plugin finds its libraries and
prints the apt/dnf command for any that are missing (--run stops there: the
window could not open). Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
QT_LIBS_CHECK = ROOT / "lmdesk" / "core" / "qt_platform_libs.py"


def llama_requirement() -> str:
    """The llama-cpp-python pin, read from pyproject.toml: the one place it is written."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    return next(d for d in dependencies if d.startswith("llama-cpp-python"))


LLAMA = llama_requirement()


def say(message: str) -> None:
    print(f"[install] {message}", flush=True)


def in_virtualenv() -> bool:
    return sys.prefix != getattr(sys, "base_prefix", sys.prefix)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def nvidia_gpu_present() -> bool:
    if Path("/proc/driver/nvidia/version").exists():
        return True
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi, "-L"], capture_output=True).returncode == 0


def cuda_toolkit_present() -> bool:
    return bool(shutil.which("nvcc") or os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"))


def wanted_backends(choice: str) -> list[str]:
    if choice == "cuda" or (choice == "auto" and nvidia_gpu_present() and cuda_toolkit_present()):
        return ["RPC", "CUDA"]
    return ["RPC"]


def installed_backends(python: Path) -> set[str] | None:
    """Backends of the installed llama-cpp-python (by its shared libraries), None if absent."""
    probe = (
        "import importlib.util, pathlib\n"
        "spec = importlib.util.find_spec('llama_cpp')\n"
        "lib = pathlib.Path(spec.origin).parent / 'lib' if spec else None\n"
        "print(' '.join(p.name for p in lib.iterdir()) if lib and lib.exists() else '-')\n"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    names = result.stdout.strip()
    if result.returncode != 0 or names in ("", "-"):
        return None
    found = {"CPU"}
    if "ggml-rpc" in names:
        found.add("RPC")
    if "ggml-cuda" in names:
        found.add("CUDA")
    return found


def pip(python: Path, *args: str, env: dict[str, str] | None = None) -> None:
    command = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    say(" ".join(command[3:]))
    subprocess.run(command, check=True, env=env)


def install_llama(python: Path, backends: list[str]) -> None:
    have = installed_backends(python)
    if have is not None and set(backends) <= have:
        say(f"llama-cpp-python already has {', '.join(sorted(have))}")
        return
    flags = " ".join(f"-DGGML_{b}=on" for b in backends)
    env = {**os.environ, "CMAKE_ARGS": f"{os.environ.get('CMAKE_ARGS', '')} {flags}".strip()}
    say(f"building llama.cpp with {', '.join(backends)} (a few minutes on a laptop)")
    pip(python, LLAMA, env=env)
    if not set(backends) <= (installed_backends(python) or set()):
        say("pip reused a wheel built with other flags; rebuilding without its cache")
        pip(python, "--no-cache-dir", "--force-reinstall", "--no-deps", LLAMA, env=env)
    have = installed_backends(python) or set()
    if not set(backends) <= have:
        sys.exit(f"[install] llama.cpp was built without {set(backends) - have}; see README")


def qt_platform_libs() -> ModuleType:
    """lmdesk's check for Qt's X11 libraries, loaded by path (lmdesk is not importable here)."""
    spec = importlib.util.spec_from_file_location("lmdesk_qt_platform_libs", QT_LIBS_CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pyside_dir(python: Path) -> Path | None:
    """Where PySide6 is installed for `python`."""
    probe = (
        "import importlib.util as u; s = u.find_spec('PySide6'); "
        "print(next(iter(s.submodule_search_locations)) if s else '')"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    found = result.stdout.strip()
    return Path(found) if result.returncode == 0 and found else None


def qt_can_open_window(python: Path, *, opening: bool) -> bool:
    """On Linux, say which packages Qt's X11 plugin lacks and the command that installs them.

    Only a warning unless `opening` (--run is about to open the window on X11): then False.
    """
    libs = qt_platform_libs()
    found = pyside_dir(python)
    problem = libs.check(found) if found else None
    if problem is None:
        return True
    for line in problem.splitlines():
        say(line)
    if opening and libs.uses_xcb(os.environ):
        return False
    say("(lmdesk is installed; it needs these to open its window)")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--run", action="store_true", help="then fetch the starter model and open")
    mode.add_argument("--test", action="store_true", help="with test tools, then run the tests")
    parser.add_argument(
        "--gpu",
        choices=["auto", "cuda", "cpu"],
        default="auto",
        help="llama.cpp GPU backend (default: CUDA when an NVIDIA GPU is found)",
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest (with --test)")
    args = parser.parse_args()

    if not in_virtualenv():
        if not venv_python().exists():
            say(f"creating a virtual environment in {VENV}")
            venv.create(VENV, with_pip=True)
        python = venv_python()
    else:
        python = Path(sys.executable)

    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=False)
    install_llama(python, wanted_backends(args.gpu))
    # Editable: the app runs from this checkout, with its resources/ (icons) beside it.
    pip(python, "-e", f"{ROOT}[test]" if args.test else str(ROOT))

    bin_dir = python.parent
    if not qt_can_open_window(python, opening=args.run):
        say("install those, then run python3 install.py --run again")
        return 2
    if args.test:
        say("running the tests")
        return subprocess.run([python, "-m", "pytest", *args.pytest_args], cwd=ROOT).returncode
    if args.run:
        subprocess.run([bin_dir / "lmdesk", "starter"], check=True)
        say("opening lmdesk")
        return subprocess.run([bin_dir / "lmdesk"]).returncode
    say(f"done: run {bin_dir / 'lmdesk'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
