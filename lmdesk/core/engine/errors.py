"""What can go wrong with a model, as exceptions whose ``str()`` a person can read.

Every failure the engine reports is an `EngineError`; the UI shows ``str(error)``
as is. The subclasses say what kind of failure it was, so the UI can offer the
right way out (pick another file, lower the context, load a smaller model).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises; ``str()`` is a sentence for a person."""

    def __init__(self, message: str, *, log_excerpt: str = "") -> None:
        super().__init__(message)
        self.log_excerpt = log_excerpt
        """The lines of llama.cpp's log that explain the failure, for "Details"."""


class ModelFileError(EngineError):
    """The file is missing, not a GGUF model, or corrupt / cut short."""


class UnsupportedArchitecture(EngineError):
    """This llama.cpp does not know the model's architecture."""

    def __init__(self, message: str, *, architecture: str, log_excerpt: str = "") -> None:
        super().__init__(message, log_excerpt=log_excerpt)
        self.architecture = architecture


class OutOfMemory(EngineError):
    """llama.cpp could not allocate the weights, the KV cache or the compute buffers."""


class LoadCancelled(EngineError):
    """The load was cancelled through the progress callback."""


class NoModelLoaded(EngineError):
    """A call needs a loaded model and there is none."""


class EngineBusy(EngineError):
    """A reply is still being generated; the engine serves one at a time."""


class ContextOverflow(EngineError):
    """The prompt (plus the room kept for the reply) does not fit in the context."""

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available


class TemplateError(EngineError):
    """The chat template could not render these messages."""


class GenerationError(EngineError):
    """llama.cpp failed while evaluating tokens."""


class CannotEmbed(EngineError):
    """The loaded model makes text, not embeddings."""
