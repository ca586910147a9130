"""Load settings remembered per model file, saved a moment after the last change.

A slider drag makes dozens of changes a second; the settings are written once,
~500 ms after the person stops (a single-shot QTimer), through the app's one
`SettingsStore`, so the Settings dialog and My Models see them at once and no
other part can save a stale copy over them.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer

from lmdesk.core.settings import ModelLoadSettings
from lmdesk.ui.services.context import SettingsStore

_log = logging.getLogger(__name__)

SAVE_DELAY_MS = 500


class RememberedSettings(QObject):
    """Per-model load settings: `recall` on open, `schedule` on every change."""

    def __init__(
        self, store: SettingsStore, parent: QObject | None = None, *, delay_ms: int = SAVE_DELAY_MS
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._pending: tuple[str, ModelLoadSettings] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)

    def recall(self, model_path: str) -> ModelLoadSettings | None:
        if self._pending and self._pending[0] == model_path:
            return self._pending[1]
        return self._store.settings.remembered(model_path)

    def schedule(self, model_path: str, load: ModelLoadSettings) -> None:
        """Save `load` for `model_path` after the delay; a new call restarts the wait."""
        if self._pending and self._pending[0] != model_path:
            self.flush()
        self._pending = (model_path, load)
        self._timer.start()

    def pending(self) -> bool:
        return self._pending is not None

    def flush(self) -> None:
        """Write what is pending now (on model change, on close)."""
        self._timer.stop()
        if self._pending is None:
            return
        path, load = self._pending
        self._pending = None
        try:
            self._store.update(lambda settings: settings.remember(path, load))
        except OSError:
            _log.warning("could not remember the load settings of %s", path, exc_info=True)
