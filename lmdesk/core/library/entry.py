"""One model on disk, as the My Models list shows it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..gguf import ModelInfo


class Source(Enum):
    LMDESK = "lmdesk"  # lmdesk's own models folder: lmdesk may delete these freely
    HF_CACHE = "Hugging Face cache"
    LM_STUDIO = "LM Studio"
    FOLDER = "added folder"


@dataclass(frozen=True)
class LibraryEntry:
    """A GGUF model (all parts of a split model together) found on disk, used in place."""

    path: Path  # the file to load: the first part of a split model
    parts: tuple[Path, ...]
    source: Source
    size: int  # bytes on disk, all parts
    model: ModelInfo | None  # None when the file cannot be read
    error: str | None = None  # why it cannot be read, for a person
    projector: Path | None = None  # its vision projector beside it (core.gguf.projector)

    @property
    def sees_images(self) -> bool:
        """A vision projector for this model sits beside it: the chat can send it pictures."""
        return self.projector is not None

    @property
    def name(self) -> str:
        return self.model.name if self.model else self.path.stem

    @property
    def is_ok(self) -> bool:
        return self.model is not None and self.error is None

    @property
    def owned(self) -> bool:
        """lmdesk downloaded it; other files are only deleted after an explicit confirmation."""
        return self.source is Source.LMDESK
