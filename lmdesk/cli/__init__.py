"""``lmdesk`` from a terminal: inspect a GGUF, estimate its memory, fit it to a GPU."""

from .main import main

__all__ = ["main"]
