"""Which GGUF files are models: projectors, importance matrices and adapters are not.

A repository of GGUF files also holds vision projectors (``mmproj-*.gguf``, but also
``…-mmproj-model-f16.gguf``), importance matrices (``*-imatrix.gguf``, llama-imatrix's
default output) and LoRA adapters. None of them loads as a chat model, so none gets a
"fits the GPU" verdict. Before a header is read the name decides; once it is read, the
header does (``general.type``, and ``general.architecture == "clip"`` for older
projectors).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

FileKind = Literal["model", "projector", "imatrix", "adapter"]

WHAT_IT_IS: dict[FileKind, str] = {
    "model": "A model",
    "projector": "Vision projector (used with a model)",
    "imatrix": "Importance matrix (for quantizing, not a model)",
    "adapter": "Adapter (applied to a model, not a model)",
}

_TYPES: dict[str, FileKind] = {
    "mmproj": "projector",
    "clip": "projector",
    "projector": "projector",
    "imatrix": "imatrix",
    "adapter": "adapter",
}


def kind_from_name(filename: str) -> FileKind:
    """What a file's name says it is; "model" unless the name says otherwise."""
    name = filename.rsplit("/", 1)[-1].lower()
    if "mmproj" in name:
        return "projector"
    if "imatrix" in name:
        return "imatrix"
    return "model"


def kind_from_header(metadata: Mapping[str, Any]) -> FileKind:
    """What a parsed header says the file is: ``general.type``, else its architecture."""
    declared = metadata.get("general.type")
    if isinstance(declared, str) and declared.lower() in _TYPES:
        return _TYPES[declared.lower()]
    if metadata.get("general.architecture") == "clip":
        return "projector"
    return "model"
