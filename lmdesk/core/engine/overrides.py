"""Experts on the CPU: llama.cpp's tensor buffer-type overrides, through ctypes.

llama-cpp-python 0.3.36 declares ``llama_model_params.tensor_buft_overrides`` as a bare
pointer; llama.cpp reads it as a NULL-terminated array of ``{const char *pattern;
ggml_backend_buffer_type_t buft;}``. Pointing it at the CPU buffer type keeps the matching
tensors in system RAM (llama.cpp then still picks the CPU's repacked layouts when allowed),
exactly as ``--n-cpu-moe N`` does. The array and its strings must outlive the model, so
`ExpertOverrides` is kept with it.
"""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path
from typing import Any

from ..expert_tensors import cpu_experts_pattern


class _Override(ctypes.Structure):
    _fields_ = [("pattern", ctypes.c_char_p), ("buft", ctypes.c_void_p)]


@cache
def cpu_buffer_type() -> int:
    """``ggml_backend_cpu_buffer_type()``, from libggml-base (loaded with RTLD_GLOBAL)."""
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    candidates = sorted(lib_dir.glob("libggml-base.*")) + sorted(lib_dir.glob("ggml-base.*"))
    if not candidates:
        raise RuntimeError(f"libggml-base is missing from {lib_dir}")
    base = ctypes.CDLL(str(candidates[0]), mode=ctypes.RTLD_GLOBAL)
    base.ggml_backend_cpu_buffer_type.restype = ctypes.c_void_p
    base.ggml_backend_cpu_buffer_type.argtypes = []
    return int(base.ggml_backend_cpu_buffer_type())


class ExpertOverrides:
    """The override array for ``n_cpu_moe`` layers; keep the object while the model lives."""

    def __init__(self, n_cpu_moe: int) -> None:
        pattern = cpu_experts_pattern(n_cpu_moe)
        self.pattern = pattern
        self._array: Any = None
        if pattern is not None:
            self._array = (_Override * 2)(
                _Override(pattern.encode(), cpu_buffer_type()), _Override(None, None)
            )

    def apply(self, params: Any) -> None:
        """Point ``params.tensor_buft_overrides`` at the array (nothing when there is none)."""
        if self._array is not None:
            params.tensor_buft_overrides = ctypes.cast(self._array, ctypes.c_void_p)
