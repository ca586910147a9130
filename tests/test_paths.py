"""Where lmdesk keeps files: LMDESK_HOME or the platform's folders, created on demand."""

from __future__ import annotations

import getpass
import sys
import tempfile
from pathlib import Path

import pytest

from lmdesk.core import paths


def test_lmdesk_home_holds_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "portable"
    monkeypatch.setenv("LMDESK_HOME", str(home))
    assert paths.config_dir() == home / "config"
    assert paths.data_dir() == home / "data"
    assert paths.log_dir() == home / "logs"
    assert paths.cache_dir() == home / "cache"
    assert paths.models_dir() == home / "data" / "models"
    assert paths.settings_path() == home / "config" / "settings.json"
    for sub in ("config", "data", "logs", "cache", "data/models"):
        assert (home / sub).is_dir()


def test_relative_lmdesk_home_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMDESK_HOME", "rel")
    assert paths.config_dir() == tmp_path / "rel" / "config"


def test_models_dir_setting_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMDESK_HOME", str(tmp_path / "home"))
    chosen = tmp_path / "big disk" / "gguf"
    assert paths.models_dir(str(chosen)) == chosen and chosen.is_dir()
    assert paths.models_dir(chosen) == chosen
    assert paths.models_dir("  ") == tmp_path / "home" / "data" / "models"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG folders are Linux's")
def test_platform_folders_without_lmdesk_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LMDESK_HOME", raising=False)
    for var, sub in (
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_STATE_HOME", "xdg-state"),
        ("XDG_CACHE_HOME", "xdg-cache"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    assert paths.config_dir() == tmp_path / "xdg-config" / "lmdesk"
    assert paths.data_dir() == tmp_path / "xdg-data" / "lmdesk"
    assert paths.cache_dir() == tmp_path / "xdg-cache" / "lmdesk"
    assert paths.log_dir().is_relative_to(tmp_path) and paths.log_dir().is_dir()
    assert paths.models_dir() == tmp_path / "xdg-data" / "lmdesk" / "models"


def test_empty_lmdesk_home_means_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMDESK_HOME", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert paths.config_dir() == tmp_path / "cfg" / "lmdesk"


def test_places_that_cannot_be_made_stand_in_for_the_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("an unmounted drive, or a file where a folder should be")
    monkeypatch.setenv("LMDESK_HOME", str(blocker / "home"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    spare = tmp_path / "tmp" / f"lmdesk-{getpass.getuser()}"
    assert paths.config_dir() == spare / "config" and paths.config_dir().is_dir()
    assert paths.data_dir() == spare / "data"
    assert paths.settings_path() == spare / "config" / "settings.json"
    found = paths.problems()
    assert len(found) == 4
    assert found[0] == (
        f"The settings folder {blocker / 'home' / 'config'} cannot be used (Not a directory); "
        f"this session uses {spare / 'config'} instead."
    )
    chosen = blocker / "models"
    assert paths.models_dir(str(chosen)) == chosen  # returned, not made: the person chooses
    assert paths.folder_problem(chosen) == f"{chosen} cannot be used (Not a directory)"
    monkeypatch.setenv("LMDESK_HOME", str(tmp_path / "fine"))
    assert paths.problems() == [] and paths.folder_problem(paths.models_dir()) is None
