"""Choosing a folder: the non-modal picker, and choosing another models folder.

A models folder that cannot be used (an unmounted drive, a path under a file, no
permission) is offered a way out in the window's banner and in My Models; both come
here, and the choice is saved through the context's one `SettingsStore`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QWidget

from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.services.errors import show_error

CHOOSE_MODELS_FOLDER = "Choose another folder…"


def folder_picker(parent: QWidget, start: str, chosen: Callable[[str], object]) -> QFileDialog:
    """Open a folder picker with `open()` (never `exec()`); `chosen(path)` gets the answer."""
    picker = QFileDialog(parent, "Choose a folder", start)
    picker.setFileMode(QFileDialog.FileMode.Directory)
    picker.setOption(QFileDialog.Option.ShowDirsOnly, True)
    picker.fileSelected.connect(chosen)
    picker.open()
    return picker


def choose_models_folder(parent: QWidget, store: SettingsStore) -> QFileDialog:
    """Ask for another models folder and save it as the `models_dir` setting."""

    def chosen(folder: str) -> None:
        if not folder:
            return
        try:
            store.update(lambda s: dataclasses.replace(s, models_dir=folder))
        except (OSError, ValueError) as exc:
            show_error(parent, f"The models folder could not be saved: {exc}")

    return folder_picker(parent, "", chosen)
