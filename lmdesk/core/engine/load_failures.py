"""Why a load failed, from llama.cpp's log, as an `EngineError` a person can act on.

llama.cpp reports a failed load as a NULL pointer; the reason is only in its
log ("unknown model architecture", "data is not within the file bounds",
"failed to allocate buffer"). These functions read it.
"""

from __future__ import annotations

import re
from pathlib import Path

import llama_cpp

from ..load_settings import LoadSettings
from .errors import EngineError, ModelFileError, OutOfMemory, UnsupportedArchitecture
from .llama_log import LogCapture

_CUT_SHORT = ("not within the file bounds", "failed to read", "truncated", "unexpected end")
_GENERIC = (
    "failed to load model",
    "failed to read header",
    "error loading model: llama_model_loader",
)
_UNKNOWN_ARCH = re.compile(r"unknown model architecture: '([^']*)'")
_ALLOC_FAILURES = (
    "failed to allocate",
    "out of memory",
    "unable to allocate",
    "cudamalloc failed",
    "alloc_buffer: failed",
    "not enough memory",
)


def _excerpt(log: LogCapture) -> str:
    errors = log.errors()
    return "\n".join(errors[-8:]) if errors else "\n".join(line.text for line in log.lines[-8:])


def classify_load_failure(path: Path, log: LogCapture) -> EngineError:
    text = log.text()
    excerpt = _excerpt(log)
    match = _UNKNOWN_ARCH.search(text)
    if match:
        arch = match.group(1)
        return UnsupportedArchitecture(
            f"{path.name} is a '{arch}' model, an architecture this version of llama.cpp "
            f"(llama-cpp-python {llama_cpp.__version__}) does not know. Update llama-cpp-python "
            "or choose another model.",
            architecture=arch,
            log_excerpt=excerpt,
        )
    lowered = text.lower()
    if any(marker in lowered for marker in _ALLOC_FAILURES):
        return OutOfMemory(
            f"There is not enough memory to load {path.name}. Offload fewer layers to the GPU, "
            "or choose a smaller quantization.",
            log_excerpt=excerpt,
        )
    reason = _reason(log)
    if "only supports up to version" in lowered:
        return ModelFileError(
            f"{path.name} is not a GGUF file this llama.cpp can read ({reason}). It may be "
            "corrupt, or need a newer llama-cpp-python.",
            log_excerpt=excerpt,
        )
    if any(marker in lowered for marker in _CUT_SHORT):
        return ModelFileError(
            f"{path.name} is incomplete or corrupt ({reason}). Download it again.",
            log_excerpt=excerpt,
        )
    return ModelFileError(
        f"llama.cpp could not load {path.name}: {reason}. The file may be corrupt; "
        "download it again or choose another model.",
        log_excerpt=excerpt,
    )


def classify_context_failure(settings: LoadSettings, log: LogCapture) -> EngineError:
    excerpt = _excerpt(log)
    lowered = log.text().lower()
    if any(marker in lowered for marker in _ALLOC_FAILURES):
        return OutOfMemory(
            f"The model loaded, but there is not enough memory for a {settings.n_ctx:,}-token "
            "context (KV cache and compute buffers). Lower the context length, quantize the KV "
            "cache, or offload fewer layers.",
            log_excerpt=excerpt,
        )
    return EngineError(
        f"llama.cpp could not create a context with these settings: {_reason(log)}.",
        log_excerpt=excerpt,
    )


def _reason(log: LogCapture) -> str:
    """The first specific error line llama.cpp logged, without its function-name prefix."""
    for line in log.errors():
        if any(generic in line for generic in _GENERIC):
            continue
        reason = line.split(": ", 1)[-1].strip()
        return re.sub(r"^error loading model: ", "", reason)
    return "no reason given in its log"
