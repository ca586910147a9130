"""Where lmdesk keeps its files.

By default the platform's places (platformdirs): e.g. ~/.config/lmdesk,
~/.local/share/lmdesk on Linux. Setting `LMDESK_HOME` puts everything under
one folder instead (`config/`, `data/`, `logs/`, `cache/`): a portable
install, or a throwaway profile for tests. Every function creates its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "lmdesk"
HOME_ENV = "LMDESK_HOME"
SETTINGS_FILE = "settings.json"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser().resolve() if value else None


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _place(sub: str, default: Path) -> Path:
    home = _home()
    return _ensure(home / sub if home else default)


def config_dir() -> Path:
    """Settings live here."""
    return _place("config", platformdirs.user_config_path(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Chats, the download queue and (by default) downloaded models."""
    return _place("data", platformdirs.user_data_path(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return _place("logs", platformdirs.user_log_path(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Things that can be fetched again: remote GGUF headers, search results."""
    return _place("cache", platformdirs.user_cache_path(APP_NAME, appauthor=False))


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Downloaded models: the `models_dir` setting when given, else `data_dir()/models`."""
    if override is not None and str(override).strip():
        return _ensure(Path(override).expanduser().resolve())
    return _ensure(data_dir() / "models")


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` with the home folder written as ~, as file managers and shells show it."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
