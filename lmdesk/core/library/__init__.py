"""My Models: every GGUF on disk in one list, read in place, headers cached."""

from .delete import NeedsConfirmation, delete_model
from .describe_cache import DescribeCache
from .entry import LibraryEntry, Source
from .scan import lm_studio_dirs, scan_library

__all__ = [
    "DescribeCache",
    "LibraryEntry",
    "NeedsConfirmation",
    "Source",
    "delete_model",
    "lm_studio_dirs",
    "scan_library",
]
