"""What a new chat starts from, and the named presets' actions on the open chat.

A new chat's sampling: the settings' defaults, then the loaded model file's recommended
sampling (``general.sampling.*``), then the model's default preset, if the person chose
one; its system prompt: that preset's. Applying a preset copies both into the open chat.
The presets and the per-model choice live in the chats database (`PreferenceStore`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from lmdesk.core.chats import ChatStore, ChatStoreError, Preset
from lmdesk.core.sampling import SamplingSettings
from lmdesk.ui.pages.chat.preset_bar import PresetBar
from lmdesk.ui.pages.chat.session import ChatSession
from lmdesk.ui.services.inference import InferenceController


class ChatPresets(QObject):
    applied = Signal()
    """A preset changed the open chat's system prompt and sampling (redraw the tabs)."""
    notice = Signal(str, str)
    """level, a sentence for a person."""

    def __init__(
        self,
        store: ChatStore,
        controller: InferenceController,
        settings_defaults: Callable[[], SamplingSettings],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._store = store
        self._controller = controller
        self._settings_defaults = settings_defaults
        self.session: ChatSession | None = None
        self.bar: PresetBar | None = None

    # -- a new chat's starting point -----------------------------------------------------------
    def sampling(self) -> SamplingSettings:
        base = self._settings_defaults()
        loaded = self._controller.loaded_model
        if loaded is None:
            return base
        base = SamplingSettings.from_stored(loaded.report.model_sampling, base)
        preset = self._model_preset()
        return base if preset is None else SamplingSettings.from_stored(preset.sampling, base)

    def system_prompt(self) -> str:
        preset = self._model_preset()
        return "" if preset is None else preset.system_prompt

    def _model_preset(self) -> Preset | None:
        loaded = self._controller.loaded_model
        if loaded is None:
            return None
        try:
            name = self._store.model_preferences(str(loaded.path)).preset
            return None if name is None else self._store.preset(name)
        except ChatStoreError:
            return None

    # -- the bar's actions -----------------------------------------------------------------------
    def connect_bar(self, bar: PresetBar, session: ChatSession) -> None:
        self.bar, self.session = bar, session
        bar.apply_requested.connect(self.apply)
        bar.save_requested.connect(self.save)
        bar.delete_requested.connect(self.delete)
        bar.model_default_changed.connect(self.set_model_default)
        self.refresh()

    def refresh(self, current: str = "") -> None:
        if self.bar is None:
            return
        try:
            names = [p.name for p in self._store.presets()]
        except ChatStoreError:
            names = []
        self.bar.set_presets(names, current)
        loaded = self._controller.loaded_model
        preset = self._model_preset()
        self.bar.set_model_default(preset.name if preset else "", loaded=loaded is not None)

    def apply(self, name: str) -> None:
        session = self.session
        if session is None:
            return
        try:
            preset = self._store.preset(name)
        except ChatStoreError as exc:
            self.notice.emit("error", f"The preset was not applied: {exc}.")
            return
        if session.conversation is None:
            session.new_conversation()
        session.set_system_prompt(preset.system_prompt)
        session.set_sampling(SamplingSettings.from_stored(preset.sampling, session.sampling()))
        self.applied.emit()

    def save(self, name: str) -> None:
        session = self.session
        if session is None:
            return
        conversation = session.conversation
        try:
            self._store.save_preset(
                name,
                system_prompt="" if conversation is None else conversation.system_prompt,
                sampling=session.sampling().to_stored(),
            )
        except (ChatStoreError, ValueError) as exc:
            self.notice.emit("error", f"The preset was not saved: {exc}.")
            return
        self.refresh(current=name)

    def delete(self, name: str) -> None:
        try:
            self._store.delete_preset(name)
        except ChatStoreError as exc:
            self.notice.emit("error", f"The preset was not deleted: {exc}.")
        self.refresh()

    def set_model_default(self, name: str) -> None:
        loaded = self._controller.loaded_model
        if loaded is None:
            return
        try:
            self._store.set_model_preset(str(loaded.path), name or None)
        except ChatStoreError as exc:
            self.notice.emit("error", f"The model's default preset was not kept: {exc}.")
        self.refresh(current=name)
