"""Which vision projector (``mmproj``) belongs to which model: the one owner of the pairing.

A projector makes image embeddings as wide as its text model's (``clip.vision.projection_dim``
equals the model's ``n_embd``); one of another model is not paired (libmtmd would refuse it,
and the engine does, with a sentence). Projectors sit beside their model: the same folder
is the same repository in lmdesk's and LM Studio's ``publisher/repo/`` layout and in a
Hugging Face cache snapshot. Header reads only; no llama.cpp.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import GGUFError
from .file_kind import kind_from_name
from .header import read_header


def projector_width(path: str | os.PathLike[str]) -> int | None:
    """The width of the embeddings a projector file makes (None: not a vision projector)."""
    try:
        metadata = read_header(path).metadata
    except (GGUFError, OSError):
        return None
    if str(metadata.get("general.architecture", "")) != "clip":
        return None
    if not metadata.get("clip.has_vision_encoder", False):
        return None
    width = metadata.get("clip.vision.projection_dim")
    return int(width) if isinstance(width, int) and not isinstance(width, bool) else None


def projectors_beside(model_path: str | os.PathLike[str]) -> list[Path]:
    """The files beside a model whose names say they are projectors (sorted)."""
    model_path = Path(model_path)
    try:
        return sorted(
            p
            for p in model_path.parent.iterdir()
            if p.suffix.lower() == ".gguf"
            and kind_from_name(p.name) == "projector"
            and p != model_path
            and p.is_file()
        )
    except OSError:
        return []


def find_projector(model_path: str | os.PathLike[str], n_embd: int) -> Path | None:
    """The vision projector beside a model file: the one ``*mmproj*.gguf`` in its folder
    that makes ``n_embd``-wide embeddings; None when there is none, or more than one fits
    (the person then picks it)."""
    fitting = [p for p in projectors_beside(model_path) if projector_width(p) == n_embd]
    return fitting[0] if len(fitting) == 1 else None
