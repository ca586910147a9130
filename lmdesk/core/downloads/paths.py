"""Where downloads go, and refusing names from the hub that would write anywhere else.

The library is laid out like LM Studio's, ``models_dir/publisher/repo/file.gguf``; files
in progress live under ``models_dir/.partial/publisher/repo/file.gguf.part`` with a JSON
sidecar beside them. Repository ids and file names come from a server, so they are
checked before any path is built: no absolute paths, no ``..``, no backslashes or NUL,
and the result must resolve inside ``models_dir`` (symlinks included).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from .errors import UnsafeName

PARTIAL_DIR = ".partial"
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"

_REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_repo_id(repo_id: str) -> tuple[str, str]:
    """``'publisher/repo'`` -> its two parts, or UnsafeName."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_REPO_PART.match(p) for p in parts):
        raise UnsafeName(
            f"'{repo_id}' is not a repository id lmdesk can store (expected publisher/repo)."
        )
    return parts[0], parts[1]


def check_filename(filename: str) -> PurePosixPath:
    """A relative POSIX path inside the repository, or UnsafeName."""
    bad = (
        not filename
        or "\\" in filename
        or any(ord(c) < 0x20 for c in filename)
        or filename.startswith("/")
        or _DRIVE.match(filename) is not None
        or any(part in ("", ".", "..") for part in filename.split("/"))
    )
    if bad:
        raise UnsafeName(
            f"Refusing to save '{filename}': the name points outside the models folder."
        )
    return PurePosixPath(filename)


class Layout:
    """Paths of the library and of partial downloads under one models folder."""

    def __init__(self, models_dir: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.realpath(models_dir))
        self.partial_root = self.root / PARTIAL_DIR

    def final_path(self, repo_id: str, filename: str) -> Path:
        return self._inside(self.root, repo_id, filename, "")

    def part_path(self, repo_id: str, filename: str) -> Path:
        return self._inside(self.partial_root, repo_id, filename, PART_SUFFIX)

    def sidecar_path(self, repo_id: str, filename: str) -> Path:
        return self._inside(self.partial_root, repo_id, filename, SIDECAR_SUFFIX)

    def _inside(self, base: Path, repo_id: str, filename: str, suffix: str) -> Path:
        publisher, repo = check_repo_id(repo_id)
        relative = check_filename(filename)
        path = base.joinpath(publisher, repo, *relative.parts)
        path = path.with_name(path.name + suffix)
        real = os.path.realpath(path)
        if os.path.commonpath([self.root, real]) != str(self.root):
            raise UnsafeName(
                f"Refusing to save '{filename}': the name points outside the models folder."
            )
        return path

    def sidecars(self) -> list[Path]:
        """Every sidecar of a partial download, for resuming after a restart."""
        if not self.partial_root.is_dir():
            return []
        return sorted(self.partial_root.rglob(f"*{SIDECAR_SUFFIX}"))

    def prune_empty_dirs(self, path: Path) -> None:
        """Remove the now-empty folders above a finished partial, up to ``.partial``."""
        folder = path.parent
        while folder != self.partial_root and self.partial_root in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
