"""Upgrade settings files written by older lmdesk versions, one version at a time.

Version 0 is the flat layout of lmdesk's first prototype (no `version` key):

    {"model_dir": "/models", "extra_dirs": ["/mnt/gguf"], "parallel_downloads": 3,
     "vram_margin_mb": 1536, "dark_mode": true, "context_length": 8192,
     "kv_cache_type": "q8_0", "temperature": 0.8, "top_p": 0.9, "top_k": 50,
     "max_tokens": 512, "seed": -1,
     "per_model": {"/models/a.gguf": {"gpu_layers": 20, "context_length": 4096}}}

Version 1 nests load and sampling defaults and names sizes in bytes.
Version 2: ``hf_endpoint`` was saved as "https://huggingface.co" when that was the default,
and an explicit value wins over ``$HF_ENDPOINT``; the old default becomes "" (not set).
Keys a migration does not know are carried along untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmdesk.core.units import MiB

SCHEMA_VERSION = 2

Layout = dict[str, Any]

_V0_TOP = {
    "model_dir": "models_dir",
    "extra_dirs": "extra_model_dirs",
    "parallel_downloads": "download_concurrency",
    "hf_endpoint": "hf_endpoint",
}
_V0_LOAD = {"context_length": "n_ctx", "batch_size": "n_batch", "kv_cache_type": "kv_type"}
_V0_SAMPLING = ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens", "seed")
_V0_MODEL = {"gpu_layers": "n_gpu_layers", "context_length": "n_ctx", "kv_cache_type": "kv_type"}


def _v0_to_v1(old: Layout) -> Layout:
    rest = dict(old)
    new: Layout = {}
    for old_key, new_key in _V0_TOP.items():
        if old_key in rest:
            new[new_key] = rest.pop(old_key)
    if "vram_margin_mb" in rest:
        margin = rest.pop("vram_margin_mb")
        new["gpu_safety_margin_bytes"] = (
            int(margin * MiB) if isinstance(margin, int | float) else margin
        )
    if "dark_mode" in rest:
        new["theme"] = {True: "dark", False: "light"}.get(rest.pop("dark_mode"), "system")
    load = {new_key: rest.pop(key) for key, new_key in _V0_LOAD.items() if key in rest}
    sampling = {key: rest.pop(key) for key in _V0_SAMPLING if key in rest}
    if load:
        new["load"] = load
    if sampling:
        new["sampling"] = sampling
    per_model = rest.pop("per_model", {})
    if isinstance(per_model, dict):
        new["models"] = {
            path: {_V0_MODEL.get(k, k): v for k, v in entry.items()}
            if isinstance(entry, dict)
            else entry
            for path, entry in per_model.items()
        }
    return {**rest, **new, "version": 1}


OLD_DEFAULT_ENDPOINT = "https://huggingface.co"


def _v1_to_v2(old: Layout) -> Layout:
    endpoint = old.get("hf_endpoint")
    if isinstance(endpoint, str) and endpoint.strip().rstrip("/") == OLD_DEFAULT_ENDPOINT:
        return {**old, "hf_endpoint": "", "version": 2}  # so a mirror's $HF_ENDPOINT is used
    return {**old, "version": 2}


#: MIGRATIONS[n] turns a version-n layout into version n + 1.
MIGRATIONS: dict[int, Callable[[Layout], Layout]] = {0: _v0_to_v1, 1: _v1_to_v2}


def migrate(data: Layout) -> tuple[Layout, list[str]]:
    """`data` brought to SCHEMA_VERSION, and notes for the person (newer file, ...).

    Raises ValueError when the version itself is unusable.
    """
    version = data.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"unknown settings version {version!r}")
    notes: list[str] = []
    if version > SCHEMA_VERSION:
        notes.append(
            f"these settings come from a newer lmdesk (version {version}); "
            "what this version does not know is kept but not used"
        )
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    return {**data, "version": max(version, SCHEMA_VERSION)}, notes
