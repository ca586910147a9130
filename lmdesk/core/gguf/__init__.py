"""Header-only GGUF reading: metadata, tensors and a model description, never tensor data."""

from .errors import GGUFError, NotAModelError
from .header import GGUFHeader, TensorInfo, read_header
from .model import ModelInfo, describe
from .source import RangeSource
from .split import merge_split_headers, read_model, split_parts

__all__ = [
    "GGUFError",
    "GGUFHeader",
    "ModelInfo",
    "NotAModelError",
    "RangeSource",
    "TensorInfo",
    "describe",
    "merge_split_headers",
    "read_header",
    "read_model",
    "split_parts",
]
