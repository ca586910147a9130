"""Which llama.cpp build is installed, and how to get a CUDA one.

llama-cpp-python compiles llama.cpp at install time and is CPU-only unless
built with CUDA; people with an NVIDIA card are then surprised that "GPU
layers" do nothing. lmdesk says so, with the command that fixes it.

`llama_cpp` is imported inside the functions: importing it loads the shared
libraries and takes a while, which must not happen when lmdesk starts.
"""

from __future__ import annotations

import ctypes
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmdesk.core.gpus.nvml import GpuProbe
from lmdesk.core.paths import display_path

#: Backend names as ggml's registry spells them, keyed by shared-library stem.
_BACKEND_NAMES = {
    "cpu": "CPU",
    "rpc": "RPC",
    "cuda": "CUDA",
    "vulkan": "Vulkan",
    "metal": "Metal",
    "hip": "HIP",
    "sycl": "SYCL",
    "blas": "BLAS",
    "opencl": "OpenCL",
    "cann": "CANN",
    "musa": "MUSA",
}
_LIB_RE = re.compile(r"^(?:lib)?ggml-([a-z]+)")


@dataclass(frozen=True)
class LlamaBuild:
    """What the installed llama.cpp can do.

    `gpu_offload` is llama.cpp's own answer, which is also true for an RPC-only
    build; whether a *local* NVIDIA GPU can be used is `"CUDA" in backends`.
    """

    gpu_offload: bool
    backends: tuple[str, ...]
    version: str

    @property
    def has_cuda(self) -> bool:
        return "CUDA" in self.backends

    @property
    def label(self) -> str:
        """'CUDA build', 'Vulkan build', 'CPU build': what the status bar and Hardware say."""
        if self.has_cuda:
            return "CUDA build"
        gpu_backends = [b for b in self.backends if b not in ("CPU", "RPC", "BLAS")]
        return f"{gpu_backends[0]} build" if gpu_backends else "CPU build"


#: The llama-cpp-python release lmdesk is tested against (install.py installs it).
PINNED_VERSION = "0.3.36"


def cuda_install_command(version: str = PINNED_VERSION, python: str | None = None) -> str:
    """The pip command that rebuilds llama-cpp-python with CUDA (needs the CUDA toolkit).

    It runs pip through `python`, by default the interpreter running lmdesk: a bare
    `pip` is often another Python's, and would leave this one's build as it was.
    A path in the home folder is written from ~ (shorter, and it names nobody).
    """
    interpreter = shell_path(python or sys.executable)
    return (
        f'CMAKE_ARGS="-DGGML_CUDA=on -DGGML_RPC=on" {interpreter} -m pip install '
        f"--no-cache-dir --force-reinstall --no-deps llama-cpp-python=={version}"
    )


def shell_path(path: str) -> str:
    """`path` quoted for a POSIX shell, the home folder as a bare ~ the shell expands."""
    shown = display_path(path)
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown.removeprefix("~/"))
    return shlex.quote(shown)


def _registered_backends(libggml: Any) -> tuple[str, ...]:
    """Names from ggml's backend registry: the backends that actually loaded."""
    libggml.ggml_backend_reg_count.restype = ctypes.c_size_t
    libggml.ggml_backend_reg_get.argtypes = [ctypes.c_size_t]
    libggml.ggml_backend_reg_get.restype = ctypes.c_void_p
    libggml.ggml_backend_reg_name.argtypes = [ctypes.c_void_p]
    libggml.ggml_backend_reg_name.restype = ctypes.c_char_p
    names = []
    for index in range(int(libggml.ggml_backend_reg_count())):
        raw = libggml.ggml_backend_reg_name(libggml.ggml_backend_reg_get(index))
        names.append(raw.decode())
    return tuple(names)


def backends_in_folder(lib_dir: Path) -> tuple[str, ...]:
    """Backends whose shared library ships in `lib_dir` (`libggml-cuda.so` -> `CUDA`)."""
    found = []
    for path in sorted(lib_dir.glob("*ggml-*")):
        match = _LIB_RE.match(path.name)
        if match and match.group(1) in _BACKEND_NAMES:
            name = _BACKEND_NAMES[match.group(1)]
            if name not in found:
                found.append(name)
    return tuple(found)


def llama_build_info() -> LlamaBuild:
    """Ask the installed llama-cpp-python which backends it was built with."""
    import llama_cpp

    # llama_supports_gpu_offload() also loads dynamically built backends into the registry.
    gpu_offload = bool(llama_cpp.llama_supports_gpu_offload())
    try:
        from llama_cpp import _ggml

        backends = _registered_backends(_ggml.libggml)
    except (ImportError, AttributeError, OSError):  # private module; fall back to the files
        backends = ()
    if not backends:
        backends = backends_in_folder(Path(llama_cpp.__file__).parent / "lib")
    return LlamaBuild(
        gpu_offload=gpu_offload, backends=backends, version=str(llama_cpp.__version__)
    )


def cuda_install_hint(build: LlamaBuild, probe: GpuProbe) -> str | None:
    """A sentence and the command to get a CUDA build, when an NVIDIA GPU would sit idle."""
    real = [gpu for gpu in probe.gpus if not gpu.is_what_if]
    if not real or build.has_cuda:
        return None
    idle = (
        f"Your {real[0].name} is not used: the installed llama.cpp ({build.version}) was "
        "built without CUDA, so models run on the CPU."
    )
    if getattr(sys, "frozen", False):  # a PyInstaller bundle: no pip inside
        return f"{idle} This bundle carries a CPU build; use a bundle built with CUDA."
    return (
        f"{idle} To install a CUDA build (this needs the NVIDIA CUDA toolkit and takes "
        "several minutes), run:\n" + cuda_install_command(build.version or PINNED_VERSION)
    )
