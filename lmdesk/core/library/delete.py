"""Deleting a model: lmdesk's own files freely, anything else only when confirmed."""

from __future__ import annotations

from pathlib import Path

from .entry import LibraryEntry, Source


class NeedsConfirmation(PermissionError):
    """The file is not lmdesk's own; ``str()`` says whose it is, for a confirmation dialog."""


def delete_model(entry: LibraryEntry, *, confirmed: bool = False) -> list[Path]:
    """Delete every part of ``entry``; returns what was removed."""
    if not entry.owned and not confirmed:
        raise NeedsConfirmation(
            f"{entry.path.name} belongs to {entry.source.value}, not to lmdesk. "
            "Delete it anyway? Other apps that use it will lose it too."
        )
    removed = []
    for part in entry.parts:
        if part.is_symlink():
            # In the Hugging Face cache the link's target is the file's blob: delete both.
            # Anywhere else a link is the user's own pointer: delete only the link.
            if entry.source is Source.HF_CACHE:
                blob = part.resolve()
                if blob.exists():
                    blob.unlink()
                    removed.append(blob)
            part.unlink()
            removed.append(part)
        elif part.exists():
            part.unlink()
            removed.append(part)
    _prune_empty(entry.path.parent)
    return removed


def _prune_empty(folder: Path) -> None:
    """Remove publisher/repo folders lmdesk's layout leaves empty (at most two levels)."""
    for directory in (folder, folder.parent):
        try:
            directory.rmdir()
        except OSError:
            return
