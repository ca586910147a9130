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
asked for. Only the standard library is used here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LLAMA = "llama-cpp-python==0.3.36"


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
