"""My Models: every GGUF on disk, from each place, with reasons for bad files and cached headers."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from gguf_factory import write_model
from hub_server import HubServer, isolate_hf_home

from lmdesk.core.library import (
    DescribeCache,
    NeedsConfirmation,
    Source,
    delete_model,
    scan_library,
)


@pytest.fixture
def disk(tmp_path: Path, smollm2_path: Path) -> dict[str, Path]:
    own = tmp_path / "models"
    smol = own / "HuggingFaceTB" / "SmolLM2-135M-Instruct-GGUF" / smollm2_path.name
    smol.parent.mkdir(parents=True)
    shutil.copyfile(smollm2_path, smol)
    split_first = write_model(own / "test" / "split" / "tiny.gguf", split_max_tensors=10)
    lms = tmp_path / "lmstudio"
    lms_model = write_model(lms / "someone" / "repo" / "lms.gguf", n_layer=2)
    extra = tmp_path / "extra"
    full = write_model(extra / "whole.gguf", n_layer=2)
    truncated = extra / "truncated.gguf"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    (extra / "notes.gguf").write_bytes(b"these are my notes, not a model")
    (extra / "mmproj-vision.gguf").write_bytes(b"GGUF")
    return {
        "own": own,
        "smol": smol,
        "split": split_first,
        "lms": lms,
        "lms_model": lms_model,
        "extra": extra,
        "truncated": truncated,
    }


def _scan(disk: dict[str, Path], cache: DescribeCache, hf: Path | None = None) -> list:  # type: ignore[type-arg]
    return scan_library(
        models_dir=disk["own"],
        cache=cache,
        extra_dirs=[disk["extra"]],
        lm_studio=[disk["lms"]],
        hf_cache_dir=hf,
        include_hf_cache=hf is not None,
    )


def test_every_place_is_scanned_and_bad_files_get_reasons(
    tmp_path: Path, disk: dict[str, Path]
) -> None:
    entries = {e.path.name: e for e in _scan(disk, DescribeCache(tmp_path / "cache"))}
    assert set(entries) == {
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "tiny-00001-of-00004.gguf",
        "lms.gguf",
        "whole.gguf",
        "truncated.gguf",
        "notes.gguf",
    }
    smol = entries["SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert smol.source is Source.LMDESK and smol.owned and smol.is_ok
    assert smol.model is not None and smol.model.architecture == "llama"
    split = entries["tiny-00001-of-00004.gguf"]
    assert len(split.parts) == 4 and split.size == sum(p.stat().st_size for p in split.parts)
    assert entries["lms.gguf"].source is Source.LM_STUDIO and not entries["lms.gguf"].owned
    assert entries["whole.gguf"].source is Source.FOLDER
    assert "incomplete" in (entries["truncated.gguf"].error or "")
    assert entries["truncated.gguf"].model is not None  # still described from its header
    assert "not a GGUF file" in (entries["notes.gguf"].error or "")
    assert entries["notes.gguf"].model is None


def test_rescans_parse_only_what_changed(tmp_path: Path, disk: dict[str, Path]) -> None:
    cache = DescribeCache(tmp_path / "cache")
    _scan(disk, cache)
    first_misses = cache.misses
    assert first_misses == 6 and cache.hits == 0
    _scan(disk, cache)
    assert cache.misses == first_misses and cache.hits == 6
    stamp = disk["lms_model"].stat().st_mtime_ns + 10**9
    os.utime(disk["lms_model"], ns=(stamp, stamp))
    _scan(disk, cache)
    assert cache.misses == first_misses + 1


def test_hugging_face_cache_models_are_found_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disk: dict[str, Path], smollm2_path: Path
) -> None:
    from huggingface_hub import hf_hub_download

    isolate_hf_home(tmp_path, monkeypatch)
    hf_cache = tmp_path / "hf-cache"
    with HubServer() as hub:
        hub.add_repo("tiny/Tiny-GGUF", {"tiny.gguf": disk["lms_model"].read_bytes()})
        downloaded = hf_hub_download(
            "tiny/Tiny-GGUF", "tiny.gguf", cache_dir=hf_cache, endpoint=hub.endpoint
        )
    entries = [
        e
        for e in _scan(disk, DescribeCache(tmp_path / "c"), hf_cache)
        if e.source is Source.HF_CACHE
    ]
    assert [e.path for e in entries] == [Path(downloaded)]
    assert entries[0].is_ok and not entries[0].owned


def test_delete_own_freely_others_only_when_confirmed(
    tmp_path: Path, disk: dict[str, Path]
) -> None:
    entries = {e.path.name: e for e in _scan(disk, DescribeCache(tmp_path / "cache"))}
    removed = delete_model(entries["tiny-00001-of-00004.gguf"])
    assert len(removed) == 4 and not disk["split"].exists()
    assert not (disk["own"] / "test").exists()  # empty publisher/repo folders pruned
    with pytest.raises(NeedsConfirmation, match="belongs to LM Studio"):
        delete_model(entries["lms.gguf"])
    assert disk["lms_model"].exists()
    delete_model(entries["lms.gguf"], confirmed=True)
    assert not disk["lms_model"].exists()


def test_deleting_a_link_keeps_the_file_it_points_to(tmp_path: Path, smollm2_path: Path) -> None:
    own = tmp_path / "models"
    link = own / "me" / "linked" / "smol.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(smollm2_path)
    (entry,) = scan_library(
        models_dir=own, cache=DescribeCache(tmp_path / "c"), lm_studio=[], include_hf_cache=False
    )
    assert delete_model(entry) == [link]
    assert smollm2_path.exists() and not link.exists()


def _header_only(path: Path, arch: str, general_type: str | None = None) -> Path:
    """A GGUF with a header and no tensors, as projectors, imatrices and adapters begin."""
    from gguf import GGUFWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(path, arch)
    if general_type:
        writer.add_string("general.type", general_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_files_that_are_not_models_are_left_out(tmp_path: Path) -> None:
    own = tmp_path / "models"
    repo = own / "someone" / "Vision-GGUF"
    write_model(repo / "vision-Q4_K_M.gguf", n_layer=2)
    write_model(repo / "vision-imatrix.gguf", n_layer=2)  # the name decides, before the header
    write_model(repo / "vision-mmproj-model-f16.gguf", n_layer=2)
    _header_only(repo / "projector-f16.gguf", "clip")  # an older projector: its architecture
    _header_only(repo / "calibration.gguf", "llama", "imatrix")  # the header's general.type
    _header_only(repo / "style-lora.gguf", "llama", "adapter")
    cache = DescribeCache(tmp_path / "cache")
    for _ in range(2):  # the second scan reads the cache: the verdict is cached too
        entries = scan_library(models_dir=own, cache=cache, lm_studio=[], include_hf_cache=False)
        assert [e.path.name for e in entries] == ["vision-Q4_K_M.gguf"]
    assert cache.hits == 4  # the model and the three headers that said "not a model"


def test_reading_a_projector_says_what_it_is(tmp_path: Path) -> None:
    from lmdesk.core.gguf import NotAModelError, read_model

    with pytest.raises(NotAModelError, match="not a model: vision projector") as caught:
        read_model(_header_only(tmp_path / "projector.gguf", "clip"))
    assert caught.value.kind == "projector"
