"""Load settings remembered per model file, saved a moment after the last change.

A slider drag makes dozens of changes a second; the settings file is written
once, ~500 ms after the person stops (a single-shot QTimer), read-modify-write
so other settings saved meanwhile are kept.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer

from lmdesk.core.gguf import ModelInfo
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import ModelLoadSettings, load_settings, save_settings
from lmdesk.ui.first_load import from_remembered

_log = logging.getLogger(__name__)

SAVE_DELAY_MS = 500


def to_remembered(settings: LoadSettings, *, gpu: str | None) -> ModelLoadSettings:
    """What the settings file keeps of `settings`, and the chosen GPU's id."""
    return ModelLoadSettings(
        n_gpu_layers=settings.n_gpu_layers,
        n_ctx=max(settings.n_ctx, 128),
        kv_type=settings.type_v,  # type: ignore[arg-type]  # LoadSettings checked the name
        flash_attn="auto" if settings.flash_attn is None else settings.flash_attn,
        gpu=gpu,
    )


def starting_settings(
    model: ModelInfo, *, given: LoadSettings | None, saved: ModelLoadSettings | None
) -> LoadSettings:
    """`given`, else what was remembered, else the settings' defaults for new models."""
    if given is not None:
        return given
    defaults = load_settings().load
    base = LoadSettings(
        n_ctx=min(defaults.n_ctx, model.n_ctx_train or defaults.n_ctx),
        n_batch=defaults.n_batch,
        n_ubatch=min(defaults.n_ubatch, defaults.n_batch),
        use_mmap=defaults.use_mmap,
        n_threads=defaults.n_threads,
    )
    return base if saved is None else from_remembered(saved, base)


class RememberedSettings(QObject):
    """Per-model load settings: `recall` on open, `schedule` on every change."""

    def __init__(self, parent: QObject | None = None, *, delay_ms: int = SAVE_DELAY_MS) -> None:
        super().__init__(parent)
        self._pending: tuple[str, ModelLoadSettings] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.flush)

    def recall(self, model_path: str) -> ModelLoadSettings | None:
        if self._pending and self._pending[0] == model_path:
            return self._pending[1]
        return load_settings().remembered(model_path)

    def margin(self) -> int:
        """The GPU safety margin from the settings (what Auto and the verdict keep free)."""
        return load_settings().gpu_safety_margin_bytes

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
        settings = load_settings()
        if settings.remembered(path) == load:
            return
        try:
            save_settings(settings.remember(path, load))
        except OSError:
            _log.warning("could not remember the load settings of %s", path, exc_info=True)
