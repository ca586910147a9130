"""Deleting a model: lmdesk's own files freely, anything else only when confirmed."""

from __future__ import annotations

from pathlib import Path

from .entry import LibraryEntry


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
        target = part.resolve() if part.is_symlink() else part  # HF cache: the blob, then the link
        if target.exists():
            target.unlink()
            removed.append(target)
        if part.is_symlink():
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
