"""Find every GGUF on disk: lmdesk's folder, the Hugging Face cache, LM Studio's, added folders.

Models are used where they are and never copied.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..gguf.file_kind import kind_from_name
from ..gguf.projector import find_projector
from ..gguf.split import SPLIT_RE, split_parts
from .describe_cache import DescribeCache
from .entry import LibraryEntry, Source

HIDDEN = "."  # dot-files and dot-folders are private


def lm_studio_dirs() -> list[Path]:
    home = Path.home()
    return [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]


def scan_library(
    *,
    models_dir: Path,
    cache: DescribeCache,
    extra_dirs: Iterable[Path] = (),
    lm_studio: Iterable[Path] | None = None,
    hf_cache_dir: Path | None = None,
    include_hf_cache: bool = True,
) -> list[LibraryEntry]:
    """Every model found, lmdesk's first; a file that cannot be read is listed with the reason."""
    roots: list[tuple[Path, Source]] = [(models_dir, Source.LMDESK)]
    roots += [(p, Source.LM_STUDIO) for p in (lm_studio_dirs() if lm_studio is None else lm_studio)]
    roots += [(Path(p), Source.FOLDER) for p in extra_dirs]
    seen: set[Path] = set()
    entries: list[LibraryEntry] = []
    candidates = [(f, src) for root, src in roots for f in _gguf_files(root)]
    if include_hf_cache:
        candidates += [(f, Source.HF_CACHE) for f in _hf_cache_files(hf_cache_dir)]
    for path, source in candidates:
        try:
            entry = _entry(path, source, cache, seen)
        except Exception as exc:  # one file fails alone, with its reason in its row
            entry = LibraryEntry(path, (path,), source, 0, None, f"cannot read the file ({exc})")
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(
    path: Path, source: Source, cache: DescribeCache, seen: set[Path]
) -> LibraryEntry | None:
    """The row for one file; None for a duplicate, what is not a regular file, or not a model."""
    try:
        mode = path.stat().st_mode
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # a dangling link, a symlink loop (RuntimeError)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LibraryEntry(path, (path,), source, 0, None, f"cannot read the file ({reason})")
    if not stat.S_ISREG(mode) or real in seen:  # a FIFO named *.gguf would block a read
        return None
    seen.add(real)
    parts = tuple(split_parts(path))
    described = cache.describe(path)
    if described.kind != "model":  # its header says projector, imatrix or adapter
        return None
    size = sum(p.stat().st_size for p in parts if p.exists())
    model = described.model
    projector = find_projector(path, model.n_embd) if model is not None else None
    return LibraryEntry(path, parts, source, size, model, described.error, projector)


def _gguf_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(HIDDEN))
        for name in sorted(files):
            if _is_model_file(name):
                yield Path(folder) / name


def _is_model_file(name: str) -> bool:
    """A GGUF whose name does not say projector or imatrix (the header is asked later)."""
    if not name.lower().endswith(".gguf") or name.startswith(HIDDEN):
        return False
    if kind_from_name(name) != "model":
        return False
    match = SPLIT_RE.match(name)
    return match is None or int(match.group("no")) == 1  # a split model is listed once


def _hf_cache_files(cache_dir: Path | None) -> Iterator[Path]:
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(cache_dir)
    except Exception:  # no cache yet, or one huggingface_hub cannot read: nothing to list
        return
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            for file in revision.files:
                if _is_model_file(file.file_name):
                    yield Path(file.file_path)
