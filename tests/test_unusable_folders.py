"""Folders lmdesk cannot use: a home or models folder under a file, or one it may not read.

The real app starts anyway (a subprocess, driven by tests/folders_driver.py), says what is
wrong in its banner and in My Models, and a new models folder chosen from the banner is
saved through the settings store. The unreadable folder is checked as a real unprivileged
user (os.setuid to nobody), since root may read any folder.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lmdesk.core import paths

DRIVER = Path(__file__).with_name("folders_driver.py")


def _run_app(home: Path, tmp: Path, out: Path, **extra: str) -> dict:  # type: ignore[type-arg]
    tmp.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "LMDESK_HOME": str(home),
        "LMDESK_DRIVER": str(DRIVER),
        "LMDESK_NO_AUTOLOAD": "1",
        "E2E_OUT": str(out),
        "TMPDIR": str(tmp),  # where the stand-in folders go
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": os.pathsep.join([str(DRIVER.parent), *sys.path]),
        **extra,
    }
    env.pop("LMDESK_STARTUP_MARKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "lmdesk"], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_a_home_under_a_file_still_opens_the_window(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    seen = _run_app(blocker / "home", tmp_path / "tmp", tmp_path / "out.json")
    assert "4 of lmdesk's folders cannot be used" in seen["banner"]
    assert f"{blocker / 'home' / 'config'} cannot be used (Not a directory)" in seen["details"]
    assert str(tmp_path / "tmp" / "lmdesk-") in seen["details"]  # where this session's files go
    assert seen["library_problem"] == ""  # the stand-in data folder holds the models folder
    assert seen["library_summary"].startswith("0 models")


def test_a_models_folder_under_a_file_is_named_and_another_is_chosen(tmp_path: Path) -> None:
    home, blocker, chosen = tmp_path / "home", tmp_path / "a-file", tmp_path / "new-models"
    blocker.write_text("not a folder")
    chosen.mkdir()
    (home / "config").mkdir(parents=True)
    settings = home / "config" / "settings.json"
    settings.write_text(json.dumps({"version": 2, "models_dir": str(blocker / "models")}))
    seen = _run_app(home, tmp_path / "tmp", tmp_path / "out.json", FOLDERS_PICK=str(chosen))
    assert seen["stage"] == "done", seen
    problem = f"The models folder {blocker / 'models'} cannot be used (Not a directory)"
    assert seen["banner"].startswith(problem)
    assert seen["action"] == "Choose another folder…"
    assert seen["library_problem"].startswith(problem)  # not "0 models"
    assert seen["library_summary"].startswith("The models folder cannot be used")
    assert seen["picker_modal"] == "WindowModal"  # open(), not exec()
    assert seen["models_dir"] == str(chosen) and seen["after_problem"] is False
    assert seen["after_summary"].startswith("0 models")
    assert json.loads(settings.read_text())["models_dir"] == str(chosen)


def _as_nobody(check: Path) -> str:
    """`folder_problem(check)` in a forked child that became the user nobody.

    A fork, not a new interpreter: nobody may not read this Python's own files here, and
    everything the check needs is already imported.
    """
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        try:
            os.close(read)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(write, str(paths.folder_problem(check)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        text = answer.read().decode()
    os.waitpid(child, 0)
    return text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_an_unreadable_models_folder_is_named(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="lmdesk-locked-", dir="/tmp"))
    try:
        base.chmod(0o755)  # nobody may reach it, and is then refused by the folder inside
        locked = base / "models"
        locked.mkdir()
        locked.chmod(0o000)
        assert _as_nobody(locked) == f"{locked} cannot be used (Permission denied)"
        assert _as_nobody(base) == "None"  # and a folder nobody can read has no problem
    finally:
        locked.chmod(0o755)
        shutil.rmtree(base)
