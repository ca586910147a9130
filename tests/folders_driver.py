"""Runs inside the real app (LMDESK_DRIVER) started with folders it cannot use.

Writes what the window said (banner, My Models), then, when FOLDERS_PICK names a
folder, answers the banner's "Choose another folder…" with it, waits for My Models
to rescan, and writes what it says then. Results go to the JSON file named by E2E_OUT;
after 60 s it writes what it has, with the stage it reached, and quits.
"""

from __future__ import annotations

import os
from typing import Any

from e2e_driver import _finish, _when
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog

GIVE_UP_MS = 60_000


def drive(window: Any) -> None:
    _when(lambda: True, lambda: _observe(window))  # after the rest of the first paint's work


def _observe(window: Any) -> None:
    result: dict[str, Any] = {
        "banner": window.banner.message,
        "details": window.banner.details,
        "action": window.banner.action_button.text()
        if window.banner.action_button.isVisible()
        else "",
        "stage": "first scan",
    }
    QTimer.singleShot(GIVE_UP_MS, lambda: _finish(window, result))
    window.show_page("library")
    page = window.pages["library"]
    scans = page.scanner.scans

    def scanned() -> None:
        result["library_problem"] = (
            page.folder_problem.text() if page.folder_problem.isVisible() else ""
        )
        result["library_summary"] = page.summary.text()
        pick = os.environ.get("FOLDERS_PICK")
        if not pick or not result["action"]:
            _finish(window, result)
            return
        result["stage"] = "choosing"
        window.banner.action_button.click()
        picker = next(d for d in window.findChildren(QFileDialog) if d.isVisible())
        result["picker_modal"] = picker.isModal() and picker.windowModality().name
        picker.setDirectory(os.path.dirname(pick))
        picker.selectFile(pick)
        picker.accept()
        result["stage"] = "rescan"
        again = page.scanner.scans

        def rescanned() -> None:
            result["after_problem"] = page.folder_problem.isVisible()
            result["after_summary"] = page.summary.text()
            result["models_dir"] = window.context.settings.settings.models_dir
            result["stage"] = "done"
            _finish(window, result)

        _when(lambda: page.scanner.scans > again and not page.scanner.busy, rescanned)

    _when(lambda: page.scanner.scans > scans and not page.scanner.busy, scanned)
