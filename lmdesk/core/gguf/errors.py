"""The one error the GGUF reader raises."""


class GGUFError(ValueError):
    """A file is not a GGUF model lmdesk can read; ``str()`` says why, for a person."""
