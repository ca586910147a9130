"""Settings: defaults, bounds, damaged files, atomic saves and migrations, on real files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from lmdesk.core.settings import (
    SCHEMA_VERSION,
    LoadDefaults,
    ModelLoadSettings,
    SamplingDefaults,
    Settings,
    load_settings,
    migrate,
    save_settings,
    setting_info,
)
from lmdesk.core.units import GiB, MiB


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


def write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def test_defaults() -> None:
    s = Settings()
    assert s.models_dir is None and s.extra_model_dirs == ()
    assert s.hf_endpoint == ""  # not set: $HF_ENDPOINT, else huggingface.co (hub_endpoint)
    assert s.download_concurrency == 2
    assert s.gpu_safety_margin_bytes == GiB
    assert (s.theme, s.context_policy) == ("system", "truncate_oldest")
    assert s.load == LoadDefaults(
        n_ctx=4096,
        n_batch=512,
        n_ubatch=512,
        kv_type="f16",
        flash_attn="auto",
        use_mmap=True,
        n_threads=None,
    )
    assert s.sampling == SamplingDefaults(
        temperature=0.7,
        top_p=0.95,
        top_k=40,
        min_p=0.05,
        repeat_penalty=1.1,
        max_tokens=1024,
        seed=-1,
    )
    assert s.models == {} and s.warnings == ()


def test_missing_file_gives_defaults_without_warnings(path: Path) -> None:
    assert load_settings(path) == Settings()
    assert load_settings(path).warnings == ()
    assert not path.exists()


def test_round_trip(path: Path) -> None:
    changed = dataclasses.replace(
        Settings(),
        models_dir="/data/models",
        extra_model_dirs=("/mnt/a", "/mnt/b"),
        download_concurrency=4,
        theme="dark",
        load=dataclasses.replace(LoadDefaults(), n_ctx=8192, kv_type="q8_0", flash_attn=True),
        sampling=dataclasses.replace(SamplingDefaults(), temperature=0.2, seed=42),
    ).remember("/m/smol.gguf", ModelLoadSettings(n_gpu_layers=31, n_ctx=2048, gpu="what-if:x"))
    save_settings(changed, path)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["version"] == SCHEMA_VERSION
    assert on_disk["extra_model_dirs"] == ["/mnt/a", "/mnt/b"]
    assert on_disk["models"]["/m/smol.gguf"]["n_gpu_layers"] == 31
    assert "warnings" not in on_disk
    loaded = load_settings(path)
    assert loaded == changed and loaded.warnings == ()
    assert loaded.remembered("/m/smol.gguf") == ModelLoadSettings(
        n_gpu_layers=31, n_ctx=2048, gpu="what-if:x"
    )
    assert loaded.remembered("/m/other.gguf") is None


def test_save_is_atomic_and_keeps_the_old_file_on_failure(path: Path) -> None:
    save_settings(dataclasses.replace(Settings(), theme="light"), path)
    before = path.read_bytes()
    unserializable = dataclasses.replace(Settings(), extra={"x": object()})
    with pytest.raises(TypeError):
        save_settings(unserializable, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["settings.json"]


@pytest.mark.parametrize(
    "content", [b"{not json", b"[1, 2, 3]", b"\xff\xfe\x00garbage", b'{"version": "two"}']
)
def test_damaged_file_is_kept_aside_and_defaults_used(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    loaded = load_settings(path)
    assert loaded == Settings()
    assert len(loaded.warnings) == 1 and "settings.json.bad" in loaded.warnings[0]
    assert (path.parent / "settings.json.bad").read_bytes() == content
    assert not path.exists()
    save_settings(loaded, path)  # the next save works and leaves the .bad file alone
    assert load_settings(path).warnings == ()
    assert (path.parent / "settings.json.bad").read_bytes() == content


def test_out_of_bounds_values_fall_back_one_by_one(path: Path) -> None:
    write_json(
        path,
        {
            "version": 1,
            "download_concurrency": 20,
            "theme": "dark",
            "gpu_safety_margin_bytes": 9 * GiB,
            "load": {"n_ctx": 16384, "kv_type": "q3"},
            "sampling": "hot",
            "models": {"/a.gguf": {"n_gpu_layers": "all", "n_ctx": 1024}, "/b.gguf": 7},
        },
    )
    loaded = load_settings(path)
    assert loaded.download_concurrency == 2 and loaded.theme == "dark"
    assert loaded.gpu_safety_margin_bytes == GiB
    assert loaded.load.n_ctx == 16384 and loaded.load.kv_type == "f16"
    assert loaded.sampling == SamplingDefaults()
    assert loaded.models == {"/a.gguf": ModelLoadSettings(n_ctx=1024)}
    text = "\n".join(loaded.warnings)
    assert "download_concurrency must be between 1 and 8, not 20" in text
    assert "gpu_safety_margin_bytes" in text and "load.kv_type" in text
    assert "sampling" in text and "n_gpu_layers" in text and "/b.gguf" in text
    assert len(loaded.warnings) == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"download_concurrency": 9}, "download_concurrency must be between 1 and 8, not 9"),
        ({"download_concurrency": True}, "download_concurrency must be int"),
        ({"theme": "blue"}, "theme must be 'system' or 'light' or 'dark', not 'blue'"),
        ({"hf_endpoint": "ftp://mirror"}, "hf_endpoint must be an http"),
        ({"gpu_safety_margin_bytes": -1}, "gpu_safety_margin_bytes must be between 0 and"),
        ({"extra_model_dirs": ["/a"]}, "extra_model_dirs must be a list of str"),
    ],
)
def test_invalid_values_are_rejected_on_set(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        dataclasses.replace(Settings(), **changes)


def test_nested_sections_validate_too() -> None:
    with pytest.raises(ValueError, match=r"top_p must be between 0\.0 and 1\.0"):
        SamplingDefaults(top_p=1.5)
    with pytest.raises(ValueError, match="flash_attn"):
        LoadDefaults(flash_attn="yes")  # type: ignore[arg-type]
    assert LoadDefaults(flash_attn=False).flash_attn is False
    with pytest.raises(ValueError, match="n_threads must be between 1 and 1024"):
        LoadDefaults(n_threads=0)
    warm = SamplingDefaults(temperature=1)
    assert warm.temperature == 1.0 and isinstance(warm.temperature, float)


def test_unknown_keys_from_a_newer_version_survive_a_save(path: Path) -> None:
    write_json(path, {"version": SCHEMA_VERSION + 1, "theme": "light", "voice": {"on": True}})
    loaded = load_settings(path)
    assert loaded.theme == "light"
    assert loaded.extra == {"voice": {"on": True}}
    assert len(loaded.warnings) == 1 and "newer lmdesk" in loaded.warnings[0]
    save_settings(dataclasses.replace(loaded, download_concurrency=3), path)
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["voice"] == {"on": True} and on_disk["download_concurrency"] == 3


VERSION_0 = {
    "model_dir": "/home/ana/models",
    "extra_dirs": ["/mnt/gguf"],
    "parallel_downloads": 3,
    "vram_margin_mb": 1536,
    "dark_mode": True,
    "context_length": 8192,
    "kv_cache_type": "q8_0",
    "temperature": 0.8,
    "top_k": 50,
    "per_model": {"/home/ana/models/a.gguf": {"gpu_layers": 20, "context_length": 4096}},
    "window_geometry": [10, 20, 800, 600],
}


def test_migration_from_version_0(path: Path) -> None:
    migrated, notes = migrate(dict(VERSION_0))
    assert migrated["version"] == SCHEMA_VERSION and notes == []
    assert "model_dir" not in migrated and migrated["theme"] == "dark"
    write_json(path, VERSION_0)
    loaded = load_settings(path)
    assert loaded.warnings == ()
    assert loaded.models_dir == "/home/ana/models"
    assert loaded.extra_model_dirs == ("/mnt/gguf",)
    assert loaded.download_concurrency == 3
    assert loaded.gpu_safety_margin_bytes == 1536 * MiB
    assert loaded.theme == "dark"
    assert (loaded.load.n_ctx, loaded.load.kv_type, loaded.load.n_batch) == (8192, "q8_0", 512)
    assert (loaded.sampling.temperature, loaded.sampling.top_k) == (0.8, 50)
    assert loaded.sampling.top_p == 0.95
    assert loaded.remembered("/home/ana/models/a.gguf") == ModelLoadSettings(
        n_gpu_layers=20, n_ctx=4096
    )
    assert loaded.extra == {"window_geometry": [10, 20, 800, 600]}
    save_settings(loaded, path)
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == SCHEMA_VERSION
    assert load_settings(path) == loaded


@pytest.mark.parametrize("saved", ["https://huggingface.co", "https://huggingface.co/"])
def test_the_old_default_endpoint_no_longer_hides_hf_endpoint(
    path: Path, monkeypatch: pytest.MonkeyPatch, saved: str
) -> None:
    from lmdesk.core.hub.endpoint import hub_endpoint

    write_json(path, {"version": 1, "hf_endpoint": saved, "theme": "dark"})
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9/mirror")
    loaded = load_settings(path)
    assert loaded.hf_endpoint == "" and loaded.theme == "dark"
    assert hub_endpoint(loaded.hf_endpoint) == "http://127.0.0.1:9/mirror"


def test_a_chosen_mirror_survives_the_migration(path: Path) -> None:
    write_json(path, {"version": 1, "hf_endpoint": "https://hf-mirror.example"})
    assert load_settings(path).hf_endpoint == "https://hf-mirror.example"


def test_light_mode_and_unset_dark_mode_migrate() -> None:
    assert migrate({"dark_mode": False})[0]["theme"] == "light"
    assert migrate({"dark_mode": None})[0]["theme"] == "system"


def test_setting_info_for_the_settings_dialog() -> None:
    info = setting_info(Settings, "download_concurrency")
    assert (info.default, info.minimum, info.maximum) == (2, 1, 8)
    assert info.description
    assert setting_info(Settings, "load").default == LoadDefaults()
    assert setting_info(SamplingDefaults, "top_p").maximum == 1.0
    with pytest.raises(KeyError):
        setting_info(Settings, "nope")


def test_remember_returns_a_copy() -> None:
    base = Settings()
    updated = base.remember("/x.gguf", ModelLoadSettings(n_gpu_layers=-1))
    assert base.models == {}
    assert updated.remembered("/x.gguf") == ModelLoadSettings(n_gpu_layers=-1)


def test_remembered_cpu_threads_read_old_and_new_files(path: Path) -> None:
    """Files written before "CPU threads" was remembered load as Auto; a bad count is dropped."""
    write_json(
        path,
        {
            "version": SCHEMA_VERSION,
            "models": {
                "/old.gguf": {"n_gpu_layers": 4, "n_ctx": 2048},
                "/new.gguf": {"n_ctx": 2048, "n_threads": 3},
                "/bad.gguf": {"n_ctx": 2048, "n_threads": 0},
            },
        },
    )
    settings = load_settings(path)
    assert settings.remembered("/old.gguf") == ModelLoadSettings(n_gpu_layers=4, n_ctx=2048)
    assert settings.remembered("/new.gguf") == ModelLoadSettings(n_ctx=2048, n_threads=3)
    assert settings.remembered("/bad.gguf") == ModelLoadSettings(n_ctx=2048, n_threads=None)
    assert any("n_threads" in warning for warning in settings.warnings)
    save_settings(settings, path)
    saved = json.loads(path.read_text(encoding="utf-8"))["models"]
    assert saved["/new.gguf"]["n_threads"] == 3 and saved["/old.gguf"]["n_threads"] is None


def test_default_path_follows_lmdesk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMDESK_HOME", str(tmp_path / "profile"))
    written = save_settings(dataclasses.replace(Settings(), theme="dark"))
    assert written == tmp_path / "profile" / "config" / "settings.json"
    assert load_settings().theme == "dark"
