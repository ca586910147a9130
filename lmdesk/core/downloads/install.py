"""The file-system steps around a transfer: room on the disk before, checks and install after."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lmdesk.core.units import format_size

from .errors import ChecksumMismatch, NotEnoughSpace
from .paths import Layout
from .sidecar import PartialState


def check_space(part_path: Path, partial: PartialState, root: Path) -> None:
    """Raise NotEnoughSpace, before any byte is fetched, if the rest of the file cannot fit."""
    have = part_path.stat().st_size if part_path.exists() else 0
    needed = (partial.size or 0) - min(have, partial.bytes_done)
    part_path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(part_path.parent).free
    if needed > free:
        raise NotEnoughSpace(
            f"Not enough disk space for '{partial.filename}': it needs {format_size(needed)} "
            f"more, and only {format_size(free)} is free in {root}."
        )


def verify(partial: PartialState, actual_sha256: str, site: str = "Hugging Face") -> None:
    """Raise ChecksumMismatch unless the bytes hash to the sha256 ``site`` published."""
    expected = partial.sha256
    if expected and actual_sha256 != expected.lower():
        raise ChecksumMismatch(
            f"'{partial.filename}' arrived damaged: its sha256 is {actual_sha256[:12]}…, but "
            f"{site} lists {expected[:12]}…. The bad download was deleted; press Retry "
            "to fetch it again."
        )


def install(part_path: Path, final_path: Path, sidecar_path: Path, layout: Layout) -> None:
    """Move the finished partial into the library atomically and durably, then tidy up."""
    final_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part_path, final_path)
    fsync_dir(final_path.parent)
    sidecar_path.unlink(missing_ok=True)
    layout.prune_empty_dirs(sidecar_path)


def fsync_dir(path: Path) -> None:
    """Make a rename durable: fsync the folder that holds the new name."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
