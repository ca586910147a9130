"""The models a client can name: My Models (the library scan of the settings' folders).

A model's id is its file name without ``.gguf`` (what LM Studio and llama-server show);
when two files share a name, the later ones get their folder in front (``folder/name``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..library import DescribeCache, LibraryEntry, scan_library
from ..paths import cache_dir, models_dir
from ..settings import Settings


def model_ids(entries: Iterable[LibraryEntry]) -> dict[str, Path]:
    """id -> the file to load, for every readable model, in the library's order."""
    out: dict[str, Path] = {}
    for entry in entries:
        if not entry.is_ok:
            continue
        model_id = entry.path.name.removesuffix(".gguf")
        if model_id in out:
            model_id = f"{entry.path.parent.name}/{model_id}"
        out.setdefault(model_id, entry.path)
    return out


def scan_catalog(settings: Settings, *, include_hf_cache: bool = True) -> dict[str, Path]:
    """Every model in My Models, by id (blocking: reads headers not yet cached)."""
    entries = scan_library(
        models_dir=models_dir(settings.models_dir),
        cache=DescribeCache(cache_dir() / "headers"),
        extra_dirs=[Path(p).expanduser() for p in settings.extra_model_dirs],
        include_hf_cache=include_hf_cache,
    )
    return model_ids(entries)


def resolve(name: str, catalog: dict[str, Path]) -> str | None:
    """The id ``name`` means: exact, else ignoring case, else a path to a listed file."""
    if name in catalog:
        return name
    folded = {key.casefold(): key for key in catalog}
    if name.casefold() in folded:
        return folded[name.casefold()]
    for model_id, path in catalog.items():
        if str(path) == name:
            return model_id
    return None
