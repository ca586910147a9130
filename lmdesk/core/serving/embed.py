"""Embeddings: which models can make them, and a clear refusal for those that cannot.

A model makes embeddings when its GGUF names a pooling type (``{arch}.pooling_type``, set
by embedding models such as nomic-embed or bge). Chat models do not; asking one is refused
with `CannotEmbed`, which the server turns into a 400 naming the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..engine import Engine, NoModelLoaded
from ..gguf import GGUFError, read_header
from .errors import CannotEmbed


def can_embed(path: Path) -> bool:
    """Whether the model file declares a pooling type (an embedding model)."""
    try:
        metadata = read_header(path).metadata
    except (GGUFError, OSError):
        return False
    arch = metadata.get("general.architecture", "")
    return f"{arch}.pooling_type" in metadata


def embed_texts(engine: Engine, texts: Sequence[str]) -> tuple[list[list[float]], int]:
    """Refuse, as `CannotEmbed`, a model that cannot embed (see the module's words)."""
    report = engine.report
    if report is None:
        raise NoModelLoaded("No model is loaded. Load a model first.")
    if not can_embed(report.path):
        raise CannotEmbed(
            f"{report.path.name} is a text-generation model: it cannot make embeddings. "
            "Load an embedding model (one whose GGUF has a pooling type, such as "
            "nomic-embed-text or bge) and ask it instead."
        )
    raise CannotEmbed(
        f"{report.path.name} is an embedding model, and this lmdesk does not serve "
        "embeddings yet (issue 10, phase 2)."
    )
