"""The chat page: conversations | messages and composer | Load · Sampling · System prompt.

The page lays widgets out and connects them; the conversation logic is in
`ChatSession`, the model in `InferenceController` (its own thread) and
`ModelControls`, the context gauge in `ContextMeter`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.chats import ChatStore, Message
from lmdesk.core.chats.recovery import carry_over
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.reasoning import ThinkingSwitches
from lmdesk.core.sampling import SamplingSettings
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.kit.widgets import muted
from lmdesk.ui.pages.chat.chat_presets import ChatPresets
from lmdesk.ui.pages.chat.composer import Composer
from lmdesk.ui.pages.chat.context_meter import ContextMeter
from lmdesk.ui.pages.chat.conversation_list import ConversationList
from lmdesk.ui.pages.chat.damaged_question import RECOVER, DamagedChatsQuestion
from lmdesk.ui.pages.chat.empty_state import EmptyState
from lmdesk.ui.pages.chat.formatting import model_display_name
from lmdesk.ui.pages.chat.message_view import MessageView
from lmdesk.ui.pages.chat.model_bar import ModelBar
from lmdesk.ui.pages.chat.model_controls import ModelControls
from lmdesk.ui.pages.chat.model_template import ModelTemplateSync
from lmdesk.ui.pages.chat.sampling_tab import SamplingTab
from lmdesk.ui.pages.chat.session import ChatSession
from lmdesk.ui.pages.chat.side_tabs import SystemPromptTab, TemplateBanner
from lmdesk.ui.pages.chat.store_opening import (
    OPEN_ERRORS,
    OpenedStore,
    in_memory_words,
    open_chat_store,
    recover_chats,
    start_empty,
)
from lmdesk.ui.pages.chat.template_tab import TemplateTab
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.errors import ErrorBanner, report_error
from lmdesk.ui.services.inference import InferenceController, LoadedModel

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats

LEFT_WIDTH, CENTRE_WIDTH, RIGHT_WIDTH = 240, 680, 360
TABS_STYLE = """
#chatSideTabs::pane { border: none; border-top: 1px solid palette(midlight); }
#chatSideTabs QTabBar::tab { background: transparent; border: none; padding: 10px 10px 8px 10px;
                             margin-left: 6px; color: palette(placeholder-text); }
#chatSideTabs QTabBar::tab:selected { color: palette(text); font-weight: 600;
                                      border-bottom: 2px solid #3b82f6; }
#chatSideTabs QTabBar::tab:hover { color: palette(text); }
"""
API_BUSY_TEXT = (
    "The model is answering a request from another program (the local server); "
    "your message waits its turn."
)
BUSY_POLL_MS = 250
READY_PLACEHOLDER = "Message {name}… (Enter to send, Shift+Enter for a new line)"
NO_MODEL_PLACEHOLDER = "Load a model to start chatting"


CENTRE_MIN_WIDTH = 440
"""Narrower, a message's actions would be cut: the window keeps at least this for them."""


class ChatPage(QWidget):
    def __init__(
        self,
        context: AppContext,
        *,
        store: ChatStore | None = None,
        controller: InferenceController | None = None,
        flush_interval_s: float | None = None,
        parent: QWidget | None = None,
    ) -> None:
        """``store`` defaults to the app's own (closed by `shutdown`); the model is the
        context's (`context.models`, which outlives the page), driven through ``controller``
        when one is given; ``flush_interval_s`` overrides how often a reply is saved."""
        super().__init__(parent)
        self.setObjectName("chatPage")
        self.context = context
        self._owns_store = store is None
        opened = open_chat_store() if store is None else OpenedStore(store)
        self.store = opened.store
        self._damaged = opened.damaged  # a damaged file waiting for the person's answer
        self._answer: str | None = None  # given while a reply streamed: applied when it ends
        self.host = context.use_models(controller)
        self.controller = self.host.controller
        self._closed = False
        settings = context.settings
        self.presets = ChatPresets(
            self.store,
            self.controller,
            lambda: SamplingSettings.from_defaults(settings.settings.sampling),
            parent=self,
        )
        self.session = ChatSession(
            self.store,
            self.controller,
            policy=lambda: settings.settings.context_policy,
            sampling_defaults=self.presets.sampling,
            system_prompt_default=self.presets.system_prompt,
            flush_interval_s=flush_interval_s,
            parent=self,
        )
        self.meter = ContextMeter(self.session, self.controller, self)
        self.models = ModelControls(context, self.host, self)
        self._build()
        self._connect()
        self.conversations.refresh()
        self.session.open_latest()
        self._on_model_gone()
        self.models.show_current()
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        if opened.damaged is not None and opened.problem:
            self.damaged_question.ask(opened.problem)
        elif opened.problem is not None:
            report_error(opened.problem, level="warning")

    # short names for the pieces tests and the window reach for
    @property
    def model_bar(self) -> ModelBar:
        return self.models.bar

    @property
    def offload(self) -> OffloadPanel:
        return self.models.panel

    @property
    def template_banner(self) -> TemplateBanner:
        return self.models.template_banner

    # -- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.conversations = ConversationList(self.store)
        self.banner = ErrorBanner()
        self.damaged_question = DamagedChatsQuestion()
        self.empty = EmptyState()
        self.messages = MessageView()
        self.centre_stack = QStackedWidget()
        self.centre_stack.addWidget(self.empty)
        self.centre_stack.addWidget(self.messages)
        self.composer = Composer()
        centre = QWidget()
        centre.setObjectName("chatCentre")
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 16)
        column.setSpacing(8)
        column.addWidget(self.banner)
        column.addWidget(self.damaged_question)
        column.addWidget(self.models.template_banner)
        column.addWidget(self.centre_stack, 1)
        composer_row = QVBoxLayout()
        composer_row.setContentsMargins(20, 0, 20, 0)
        self.api_busy = muted(API_BUSY_TEXT)
        self.api_busy.setObjectName("apiBusy")
        self.api_busy.hide()
        composer_row.addWidget(self.api_busy)
        composer_row.addWidget(self.composer)
        column.addLayout(composer_row)

        self.sampling = SamplingTab()
        self.system_prompt = SystemPromptTab()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("chatSideTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.setStyleSheet(TABS_STYLE)
        self.tabs.addTab(self.models.load_tab, "Load")
        self.tabs.addTab(self.sampling, "Sampling")
        self.tabs.addTab(self.system_prompt, "System prompt")
        self.template = TemplateTab()
        self.tabs.addTab(self.template, "Template")
        self.template_sync = ModelTemplateSync(
            self.template, self.store, self.controller, self.session, parent=self
        )

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.splitter.setStyleSheet("QSplitter::handle { background: palette(midlight); }")
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(centre)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([LEFT_WIDTH, CENTRE_WIDTH, RIGHT_WIDTH])
        self.conversations.setMinimumWidth(180)
        centre.setMinimumWidth(CENTRE_MIN_WIDTH)
        # The side tabs are as wide as the Load panel's rows need (it says so itself).
        root = QVBoxLayout(self)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        root.addWidget(self.models.bar)
        root.addWidget(self.splitter, 1)
        self.stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.stop_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.stop_shortcut.setEnabled(False)
        self.stop_shortcut.activated.connect(self.session.stop)
        self._busy_timer = QTimer(self)  # whose turn it is on the model: the chat or the API
        self._busy_timer.setInterval(BUSY_POLL_MS)
        self._busy_timer.timeout.connect(self._show_api_busy)
        self._busy_timer.start()

    def _connect(self) -> None:
        s, m, signals = self.session, self.models, self.context.signals
        self.controller.busy_changed.connect(lambda _busy: self._refresh_state())
        m.model_ready.connect(self._on_model_ready)
        m.model_gone.connect(self._on_model_gone)
        m.notice.connect(self._show_notice)
        m.load_error.connect(
            lambda text, action: self.banner.show_message(text, None, "error", action)
        )
        m.load_tab_wanted.connect(lambda: self.tabs.setCurrentWidget(m.load_tab))
        self.damaged_question.answered.connect(self.answer_damaged_database)
        s.conversation_opened.connect(self._on_conversation_opened)
        s.message_added.connect(self._on_message_added)
        s.message_changed.connect(self.messages.update_message)
        s.reply_text.connect(self.messages.append_text)
        s.reply_reasoning.connect(self.messages.append_reasoning)
        s.streaming_changed.connect(self._on_streaming_changed)
        s.streaming_changed.connect(self._answer_after_reply)
        s.reply_finished.connect(self._on_reply_finished)
        s.conversations_changed.connect(
            lambda: self.conversations.refresh(select=self.session.conversation_id)
        )
        s.notice.connect(self._show_notice)
        self.meter.changed.connect(
            lambda used, total, exact: self.composer.gauge.set_usage(used, total, exact=exact)
        )
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(s.stop)
        self.composer.draft_changed.connect(self.meter.set_draft)
        self.composer.image_refused.connect(lambda text: self._show_notice("warning", text))
        self.messages.regenerate_requested.connect(lambda _id: s.regenerate())
        self.messages.continue_requested.connect(lambda _id: s.continue_reply())
        self.messages.edit_submitted.connect(self._on_edit_submitted)
        self.messages.version_requested.connect(s.switch_version)
        self.messages.fork_requested.connect(s.fork)
        self.conversations.conversation_selected.connect(self.open_conversation)
        self.conversations.new_requested.connect(self.new_chat)
        self.conversations.rename_requested.connect(s.rename)
        self.conversations.delete_confirmed.connect(s.delete)
        self.conversations.export.exported.connect(
            lambda path: self._show_notice("info", f"Exported to {path}")
        )
        self.conversations.export.failed.connect(lambda text: self._show_notice("error", text))
        self.sampling.changed.connect(s.set_sampling)
        self.presets.connect_bar(self.sampling.presets, s)
        self.presets.applied.connect(self._show_conversation_settings)
        self.presets.notice.connect(self._show_notice)
        self.sampling.changed.connect(lambda _values: self.template_sync.refresh_preview())
        self.system_prompt.changed.connect(s.set_system_prompt)
        self.empty.load_clicked.connect(m.show_picker)
        self.empty.library_clicked.connect(lambda: signals.navigate_requested.emit("library"))
        signals.new_chat_requested.connect(self.new_chat)

    # -- actions ------------------------------------------------------------------------------
    def load_model(self, path: str, settings: LoadSettings | None = None) -> None:
        self.models.load_model(path, settings)

    def new_chat(self) -> None:
        self.system_prompt.flush()
        self.session.new_conversation()
        self.composer.edit.setFocus()

    def open_conversation(self, conversation_id: int) -> None:
        if conversation_id != self.session.conversation_id:
            self.system_prompt.flush()
            self.session.open(conversation_id)

    def send(self, text: str) -> bool:
        """Send the composer's text; it is cleared once the message is committed."""
        self.system_prompt.flush()
        if self.session.send(text, self.composer.images()):
            self.composer.clear()
            return True
        return False

    # -- reactions ----------------------------------------------------------------------------
    def _on_conversation_opened(self, _conversation: object, messages: list[Message]) -> None:
        self.messages.set_messages(messages)
        self.messages.set_versions(self.session.versions())
        self.messages.set_attachments(self.session.attachments())
        self.conversations.select(self.session.conversation_id)
        self._show_conversation_settings()
        self._refresh_state()

    def _show_conversation_settings(self) -> None:
        conversation = self.session.conversation
        self.system_prompt.set_text("" if conversation is None else conversation.system_prompt)
        self.sampling.set_values(self.session.sampling())

    def _on_message_added(self, message: Message) -> None:
        self.messages.add_message(message)
        if message.role == "user":
            self.messages.set_attachments(self.session.attachments())
        if message.role == "assistant":  # a regenerated reply is a new version
            self.messages.set_versions(self.session.versions())
        if message.role == "user":
            self.messages.scroll_to_bottom()
        self._refresh_state()

    def _on_edit_submitted(self, message_id: int, text: str) -> None:
        widget = self.messages.widget_for(message_id)
        if widget is not None and widget.message.role == "user":
            self.session.edit_and_resend(message_id, text)
        else:
            self.session.edit_message(message_id, text)

    def _on_streaming_changed(self, streaming: bool) -> None:
        self.messages.set_busy(streaming)
        self.composer.set_streaming(streaming)
        self.stop_shortcut.setEnabled(streaming)
        self._refresh_state()

    def _on_reply_finished(self, stats: ReplyStats) -> None:
        self.context.signals.token_rate.emit(float(stats.tokens_per_s))

    def _on_model_ready(self, loaded: LoadedModel) -> None:
        name = model_display_name(loaded.path)
        self.composer.set_placeholder(READY_PLACEHOLDER.format(name=name))
        self.sampling.set_switches(loaded.report.thinking)
        self.composer.set_accepts_images(bool(loaded.report.projector))
        self.messages.set_model_continues(not loaded.report.remote_server)
        self.template_sync.model_ready(loaded)
        self.presets.refresh()
        self._refresh_state()
        self.composer.edit.setFocus()

    def _on_model_gone(self) -> None:
        self.composer.set_placeholder(NO_MODEL_PLACEHOLDER)
        self.sampling.set_switches(ThinkingSwitches())
        self.composer.set_accepts_images(False)
        self.template_sync.model_gone()
        self.presets.refresh()
        self._refresh_state()

    def _show_notice(self, level: str, text: str) -> None:
        if text:
            self.banner.show_message(text, None, level)
        else:
            self.banner.dismiss()

    def _show_api_busy(self) -> None:
        self.api_busy.setVisible(self.controller.busy_client == "api")

    def _refresh_state(self) -> None:
        loaded = self.controller.loaded_model is not None
        has_messages = bool(self.messages.widgets())
        self.centre_stack.setCurrentWidget(self.messages if loaded or has_messages else self.empty)
        reason = self.session.can_reply()
        self.composer.set_can_send(reason is None, reason or "")

    # -- a damaged chats database ----------------------------------------------------------------
    def answer_damaged_database(self, answer: str) -> None:
        """RECOVER or START_EMPTY: the file's store replaces the in-memory one, which the
        chats of this session so far are carried over from."""
        if self._damaged is None:
            return
        if self.session.streaming:
            self._answer = answer
            self.damaged_question.wait_for_reply()
            return
        path, self._damaged, self._answer = self._damaged, None, None
        self.damaged_question.hide()
        try:
            store, message = recover_chats(path) if answer == RECOVER else start_empty(path)
            moved = carry_over(self.store, store)
        except OPEN_ERRORS as exc:
            self.banner.show_message(in_memory_words(path, exc), None, "error")
            return
        memory, self.store = self.store, store
        self.conversations.use_store(store)
        current = self.session.conversation_id
        self.session.use_store(store, None if current is None else moved.get(current))
        if self._owns_store:
            memory.close()
        self.banner.show_message(message, None, "info")

    def _answer_after_reply(self, streaming: bool) -> None:
        if not streaming and self._answer is not None:
            self.answer_damaged_database(self._answer)

    # -- shutdown -----------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Save what is pending, stop the reply, close the store. The model stays with the
        context's host, which the window closes after its pages."""
        if self._closed:
            return
        self._closed = True
        self._busy_timer.stop()
        self.system_prompt.flush()
        self.meter.close()
        self.conversations.close_search()
        self.models.shutdown()
        self.session.shutdown()
        self.template.wait()
        self.composer.wait()
        if self._owns_store:
            self.store.close()
