"""The one error the GGUF reader raises."""


class GGUFError(ValueError):
    """A file is not a GGUF model lmdesk can read; ``str()`` says why, for a person."""


class MissingKeyError(GGUFError):
    """An essential metadata key is absent (llama.cpp refuses such a file by itself)."""
