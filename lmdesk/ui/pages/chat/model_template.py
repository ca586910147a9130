"""Keeps the Template tab, the per-model template override and the engine in step.

When a model loads, its kept override (chats database, `ModelPreferences`) is handed to
the engine; the tab shows the template in use and previews the open conversation; a new
override is checked by the engine (`template_changed` carries its refusal) and kept.
`lmdesk.core.engine` is imported in the methods: importing it loads llama.cpp, which the
inference worker does on its own thread first (the page is built without it).
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from lmdesk.core.chats import ChatStore, ChatStoreError
from lmdesk.ui.pages.chat.session import ChatSession
from lmdesk.ui.pages.chat.template_tab import TemplateTab
from lmdesk.ui.services.inference import InferenceController
from lmdesk.ui.services.inference.loaded import LoadedModel


class ModelTemplateSync(QObject):
    def __init__(
        self,
        tab: TemplateTab,
        store: ChatStore,
        controller: InferenceController,
        session: ChatSession,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._tab, self._store, self._controller, self._session = tab, store, controller, session
        self._loaded: LoadedModel | None = None
        controller.template_changed.connect(self._on_template_changed)
        tab.override_chosen.connect(self._choose)
        for signal in (session.conversation_opened, session.message_added, session.message_changed):
            signal.connect(lambda *_args: self.refresh_preview())

    def model_ready(self, loaded: LoadedModel) -> None:
        if loaded.report.remote_server:  # the server applies its own template
            self.model_gone()
            return
        self._loaded = loaded
        report = loaded.report
        override = self._kept_override(str(loaded.path))
        self._tab.set_model(
            report.template_source,
            bos_token=report.bos_token,
            eos_token=report.eos_token,
            override=override,
        )
        self._tab.set_template_in_use(report.chat_template)
        from lmdesk.core.engine.templates import CustomTemplate

        if override:
            self._controller.set_chat_template(CustomTemplate(override))
        self.refresh_preview()

    def model_gone(self) -> None:
        self._loaded = None
        self._tab.set_model(None)

    def refresh_preview(self) -> None:
        if self._loaded is not None:
            self._tab.set_conversation(
                self._session.prompt_messages(), self._session.sampling().template_variables()
            )

    def _kept_override(self, path: str) -> str:
        try:
            return self._store.model_preferences(path).chat_template or ""
        except ChatStoreError:
            return ""

    def _choose(self, source: str) -> None:
        loaded = self._loaded
        if loaded is None:
            return
        try:
            self._store.set_model_template(str(loaded.path), source or None)
        except ChatStoreError as exc:
            self._tab.set_template_in_use(self._tab_name(), f"Not kept: {exc}.")
            return
        self._tab.set_override(source)
        from lmdesk.core.engine.templates import COMPLETION, GGUF_TEMPLATE, CustomTemplate

        if source:
            self._controller.set_chat_template(CustomTemplate(source))
        else:
            self._tab.set_model(
                loaded.report.template_source,
                bos_token=loaded.report.bos_token,
                eos_token=loaded.report.eos_token,
            )
            own = GGUF_TEMPLATE if loaded.has_builtin_template else COMPLETION
            self._controller.set_chat_template(own)

    def _tab_name(self) -> str:
        return self._loaded.report.chat_template if self._loaded is not None else ""

    def _on_template_changed(self, name: str, error: str) -> None:
        self._tab.set_template_in_use(name, error)
        self.refresh_preview()
