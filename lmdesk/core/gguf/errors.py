"""The one error the GGUF reader raises, and its kinds."""

from .file_kind import FileKind


class GGUFError(ValueError):
    """A file is not a GGUF model lmdesk can read; ``str()`` says why, for a person."""


class MissingKeyError(GGUFError):
    """An essential metadata key is absent (llama.cpp refuses such a file by itself)."""


class NotAModelError(GGUFError):
    """The file is a GGUF but not a model: a vision projector, an importance matrix, an adapter.

    ``kind`` is its `FileKind`, so a list of models can leave it out instead of showing an error.
    """

    def __init__(self, message: str, kind: FileKind) -> None:
        super().__init__(message)
        self.kind = kind
