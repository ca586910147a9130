"""Where lmdesk keeps its files.

By default the platform's places (platformdirs): e.g. ~/.config/lmdesk,
~/.local/share/lmdesk on Linux. Setting `LMDESK_HOME` puts everything under
one folder instead (`config/`, `data/`, `logs/`, `cache/`): a portable
install, or a throwaway profile for tests. Every function creates its folder.

A place that cannot be created (a home folder under a file, an unmounted drive, a
read-only home) must not stop lmdesk: that place is then a folder in the system's
temporary folder for this session, and `problems()` says so, for the window to show.
The models folder is the exception: it is returned even when it cannot be made, and
`folder_problem()` says why, so the person can choose another one.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from collections.abc import Callable
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


def _wanted(sub: str) -> Path:
    home = _home()
    return home / sub if home else _PLACES[sub][0](APP_NAME, appauthor=False)


def _spare(sub: str) -> Path:
    """This session's stand-in for a place that cannot be created."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this user id (a container)
        user = "user"
    return Path(tempfile.gettempdir()) / f"{APP_NAME}-{user}" / sub


def _place(sub: str) -> Path:
    wanted = _wanted(sub)
    try:
        return _ensure(wanted)
    except OSError:
        return _ensure(_spare(sub))


# Each sub-folder of LMDESK_HOME: the platform's place for it, and what it holds, for a person.
_PLACES: dict[str, tuple[Callable[..., Path], str]] = {
    "config": (platformdirs.user_config_path, "settings"),
    "data": (platformdirs.user_data_path, "data"),
    "logs": (platformdirs.user_log_path, "logs"),
    "cache": (platformdirs.user_cache_path, "cache"),
}


def problems() -> list[str]:
    """A sentence for each of lmdesk's places that cannot be created (checked now)."""
    found = []
    for sub, (_platform_place, what) in _PLACES.items():
        problem = folder_problem(_wanted(sub))
        if problem:
            found.append(f"The {what} folder {problem}; this session uses {_spare(sub)} instead.")
    return found


def folder_problem(path: Path) -> str | None:
    """Why `path` cannot be used as a folder (cannot be created, is a file, cannot be
    listed), naming it, for a person; None when it can. Creates it when it can."""
    try:
        _ensure(path)
        with os.scandir(path):
            pass
    except OSError as exc:
        return f"{path} cannot be used ({exc.strerror or exc})"
    return None


def config_dir() -> Path:
    """Settings live here."""
    return _place("config")


def data_dir() -> Path:
    """Chats, the download queue and (by default) downloaded models."""
    return _place("data")


def log_dir() -> Path:
    return _place("logs")


def cache_dir() -> Path:
    """Things that can be fetched again: remote GGUF headers, search results."""
    return _place("cache")


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Downloaded models: the `models_dir` setting when given, else `data_dir()/models`.

    Created when it can be; returned even when it cannot (`folder_problem()` says why).
    """
    if override is not None and str(override).strip():
        path = Path(override).expanduser().resolve()
    else:
        path = data_dir() / "models"
    folder_problem(path)
    return path


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` with the home folder written as ~, as file managers and shells show it."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
