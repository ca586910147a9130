"""The open conversation: what the person does, turned into store writes and engine requests.

No widgets here (Anki's rule: no business logic in widgets). The page calls
`send`, `regenerate`, `edit_and_resend`, `continue_reply`, `stop`; the
session commits the user's message *before* asking for a reply, hands the
reply to a `ReplyStream` (which saves it as it streams and when it ends) and
tells the views what changed. The views follow the signals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from lmdesk.core.chats import (
    DEFAULT_TITLE,
    Attachment,
    ChatStore,
    ChatStoreError,
    Conversation,
    ConversationNotFoundError,
    Message,
)
from lmdesk.core.chats.attachment_store import remove_files
from lmdesk.core.sampling import SamplingSettings
from lmdesk.ui.pages.chat.formatting import title_from_message
from lmdesk.ui.pages.chat.reply_stream import ReplyStream
from lmdesk.ui.services.inference import InferenceController

if TYPE_CHECKING:
    from lmdesk.core.engine import ReplyStats

_log = logging.getLogger(__name__)


def engine_messages(
    system_prompt: str, messages: Sequence[Message], *, continuing: bool = False
) -> list[dict[str, str]]:
    """What the model sees: the system prompt, then the turns (empty replies left out).

    A reply's thinking goes as ``reasoning_content``; only a template that reads it (Qwen3
    for the turns after the last question, gpt-oss as ``thinking``) puts it in the prompt.
    ``continuing``: the last reply is being continued, so it stays even when it has no
    answer yet (cut off while thinking); the engine then writes its thinking back.
    """
    out = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    for m in messages:
        if _left_out(m, continued=continuing and m is messages[-1]):
            continue
        turn = {"role": m.role, "content": m.content}
        if m.reasoning:
            turn["reasoning_content"] = m.reasoning
        out.append(turn)
    return out


def _left_out(message: Message, *, continued: bool = False) -> bool:
    """An empty reply is not sent; one being continued is, if it has thinking."""
    if message.role != "assistant" or message.content.strip():
        return False
    return not (continued and message.reasoning)


class ChatSession(QObject):
    conversation_opened = Signal(object, list)
    """Conversation or None, its messages (list[Message]): redraw everything."""
    message_added = Signal(object)
    """Message: a user message, or a reply that starts streaming (empty)."""
    message_changed = Signal(object)
    """Message: new text, state or stats (a finished reply, an edit)."""
    reply_text = Signal(int, str)
    """message id, answer text appended to the streaming reply."""
    reply_reasoning = Signal(int, str)
    """message id, thinking appended to the streaming reply."""
    reply_saved = Signal(int, int)
    """message id, characters of it now saved in the database (after each flush)."""
    streaming_changed = Signal(bool)
    reply_finished = Signal(object)
    """ReplyStats of a reply that ended normally (Stop included)."""
    conversations_changed = Signal()
    """A title, the order or the set of conversations changed."""
    notice = Signal(str, str)
    """level ('error', 'warning', 'info'), a sentence for a person."""

    def __init__(
        self,
        store: ChatStore,
        controller: InferenceController,
        *,
        policy: Callable[[], str] = lambda: "truncate_oldest",
        sampling_defaults: Callable[[], SamplingSettings] | None = None,
        system_prompt_default: Callable[[], str] = str,
        flush_interval_s: float | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.controller = controller
        self._sampling_defaults = sampling_defaults or SamplingSettings
        self._system_prompt_default = system_prompt_default
        """A new chat's system prompt (the loaded model's default preset's)."""
        self._conversation: Conversation | None = None
        self._stream = ReplyStream(
            store, controller, policy=policy, flush_interval_s=flush_interval_s, parent=self
        )
        self._stream.text_added.connect(self.reply_text)
        self._stream.reasoning_added.connect(self.reply_reasoning)
        self._stream.saved.connect(self.reply_saved)
        self._stream.finished.connect(self._on_reply_finished)
        self._stream.failed.connect(self._on_reply_failed)
        self._stream.save_problem.connect(lambda text: self.notice.emit("error", text))
        self._stream.save_recovered.connect(
            lambda _id: self.notice.emit("info", "The reply kept in memory is now saved.")
        )

    # -- the open conversation ----------------------------------------------------------------
    @property
    def conversation(self) -> Conversation | None:
        return self._conversation

    @property
    def conversation_id(self) -> int | None:
        return None if self._conversation is None else self._conversation.id

    @property
    def streaming(self) -> bool:
        return self._stream.record is not None

    @property
    def streaming_message_id(self) -> int | None:
        reply = self._stream.record
        return None if reply is None else reply.message_id

    def messages(self) -> list[Message]:
        """The open conversation's messages; a streaming reply with all its text so far."""
        if self._conversation is None:
            return []
        listed = self.store.messages(self._conversation.id)
        reply = self._stream.record
        if reply is None:
            return listed
        return [
            _with_content(m, reply.text, reply.reasoning) if m.id == reply.message_id else m
            for m in listed
        ]

    def use_store(self, store: ChatStore, open_id: int | None) -> None:
        """Work on ``store`` from now on and open ``open_id`` there (no reply may stream)."""
        self._stream.use_store(store)
        self.store = store
        self._conversation = None
        if open_id is None:
            self.open_latest()
        else:
            self.open(open_id)
        self.conversations_changed.emit()

    def open(self, conversation_id: int | None) -> None:
        try:
            conversation = (
                None if conversation_id is None else self.store.get_conversation(conversation_id)
            )
        except ConversationNotFoundError:
            conversation = None
        self._conversation = conversation
        self.conversation_opened.emit(conversation, self.messages())

    def open_latest(self) -> None:
        """The most recently active conversation; a new one when there is none."""
        latest = self.store.list_conversations()
        if latest:
            self.open(latest[0].id)
        else:
            self._conversation = None
            self.new_conversation()

    def new_conversation(self) -> Conversation:
        """An empty conversation (the open one, if it is still empty)."""
        current = self._conversation
        if current is not None and not self.store.messages(current.id):
            return current
        conversation = self.store.create_conversation(
            DEFAULT_TITLE, system_prompt=self._system_prompt_default()
        )
        self.conversations_changed.emit()
        self.open(conversation.id)
        return conversation

    def rename(self, conversation_id: int, title: str) -> None:
        title = title.strip()
        if not title:
            return
        updated = self.store.rename_conversation(conversation_id, title)
        if self._conversation is not None and self._conversation.id == conversation_id:
            self._conversation = updated
        self.conversations_changed.emit()

    def delete(self, conversation_id: int) -> None:
        reply = self._stream.record
        if reply is not None and reply.conversation_id == conversation_id:
            self.controller.stop()  # its writer then finds the row gone and saves nothing
        self.store.delete_conversation(conversation_id)
        remove_files(self._images_folder(), conversation_id)
        self.conversations_changed.emit()
        if self.conversation_id == conversation_id:
            self.open_latest()

    def set_system_prompt(self, text: str) -> None:
        if self._conversation is not None and text != self._conversation.system_prompt:
            self._conversation = self.store.update_conversation(
                self._conversation.id, system_prompt=text
            )

    def sampling(self) -> SamplingSettings:
        """The open conversation's sampling: what it keeps, over the settings' defaults."""
        stored = None if self._conversation is None else self._conversation.sampling
        return SamplingSettings.from_stored(stored, self._sampling_defaults())

    def set_sampling(self, sampling: SamplingSettings) -> None:
        """Keep `sampling` with the open conversation."""
        stored = sampling.to_stored()
        if self._conversation is not None and stored != self._conversation.sampling:
            self._conversation = self.store.update_conversation(
                self._conversation.id, sampling=stored
            )

    def prompt_messages(self, draft: str = "", *, continuing: bool = False) -> list[dict[str, str]]:
        """The open conversation as the engine would see it, plus ``draft`` as the next message
        (``continuing``: the last reply is continued, see `engine_messages`)."""
        system = "" if self._conversation is None else self._conversation.system_prompt
        messages = self.messages()
        out = engine_messages(system, messages, continuing=continuing)
        pictures = self.attachments()
        if pictures:  # each message's pictures go to the engine as files, one path a line
            folder = self._images_folder()
            by_turn = [
                m for m in messages if not _left_out(m, continued=continuing and m is messages[-1])
            ]
            first = len(out) - len(by_turn)
            for turn, message in zip(out[first:], by_turn, strict=True):
                if message.id in pictures:
                    turn["images"] = "\n".join(str(a.file_in(folder)) for a in pictures[message.id])
        if draft.strip():
            out.append({"role": "user", "content": draft})
        return out

    # -- actions ------------------------------------------------------------------------------
    def can_reply(self) -> str | None:
        """Why a reply cannot start now (a sentence), or None when it can."""
        if self.controller.loaded_model is None:
            return "Load a model first."
        if self.controller.loading:
            return "Wait for the model to finish loading."
        if self._stream.record is not None or self.controller.generating:
            return "A reply is still being written. Stop it first."
        return None

    def attachments(self) -> dict[int, list[Attachment]]:
        """The open conversation's pictures by message id."""
        if self._conversation is None:
            return {}
        try:
            return self.store.attachments(self._conversation.id)
        except ChatStoreError:
            return {}

    def send(self, text: str, images: Sequence[tuple[str, bytes]] = ()) -> bool:
        """Commit the user's message (with its pictures), then ask for a reply. False (with a
        notice) if not now.

        If the message cannot be saved (the disk is full) nothing is sent and the notice
        says why; the text stays in the composer.
        """
        if not (text.strip() or images) or self._refused():
            return False
        loaded = self.controller.loaded_model
        if images and loaded is not None and not loaded.report.projector:
            self.notice.emit(
                "warning",
                "This model cannot see pictures: load one with its vision projector (mmproj).",
            )
            return False
        try:
            return self._send(text, images)
        except ChatStoreError as exc:
            self.notice.emit("error", f"Your message was not sent: {exc}.")
            return False

    def _send(self, text: str, images: Sequence[tuple[str, bytes]] = ()) -> bool:
        if self._conversation is None:
            self._conversation = self.store.create_conversation(
                DEFAULT_TITLE, system_prompt=self._system_prompt_default()
            )
            self.conversation_opened.emit(self._conversation, [])
        conversation = self._conversation
        if images:
            message = self.store.add_message_with_images(conversation.id, text, images)
        else:
            message = self.store.add_message(conversation.id, "user", text)
        changes: dict[str, Any] = {"model_path": str(self._model_path())}
        if conversation.title == DEFAULT_TITLE:
            changes["title"] = title_from_message(text if text.strip() else "Picture")
        self._conversation = self.store.update_conversation(conversation.id, **changes)
        if not self._start_reply(continue_from=None, sent=message):
            self.message_added.emit(message)
            self.conversations_changed.emit()
        return True

    def regenerate(self) -> bool:
        """Answer the last user message again; the earlier reply stays as a version (‹ 1/2 ›)."""
        if self._refused():
            return False
        messages = self.messages()
        replies: list[Message] = []
        while messages and messages[-1].role == "assistant":
            replies.insert(0, messages.pop())
        if not messages or messages[-1].role != "user":
            return False
        try:
            if replies:
                self.store.branch_from(replies[0].id)
        except ChatStoreError as exc:
            self.notice.emit("error", f"The reply was not written again: {exc}.")
            return False
        self._reopen()
        return self._start_reply(continue_from=None)

    def edit_and_resend(self, message_id: int, text: str) -> bool:
        """Send an edited user message in its place: what followed the old one stays as the
        other version (‹ 1/2 ›), nothing is deleted."""
        if not text.strip() or self._refused():
            return False
        message = self.store.get_message(message_id)
        if message.role != "user":
            raise ValueError("only the person's own messages are edited and resent")
        try:
            self.store.branch_from(message_id)
            self.store.add_message(message.conversation_id, "user", text)
        except ChatStoreError as exc:
            self.notice.emit("error", f"Your edit was not sent: {exc}.")
            return False
        self._reopen()
        return self._start_reply(continue_from=None)

    def switch_version(self, message_id: int, step: int) -> None:
        """Show another version of the conversation from ``message_id`` on (‹ / ›)."""
        if self.streaming:
            return
        try:
            self.store.switch_alternative(message_id, step)
        except ChatStoreError as exc:
            self.notice.emit("error", f"Could not switch versions: {exc}.")
            return
        self._reopen()

    def fork(self, message_id: int) -> Conversation | None:
        """ "Fork chat from here": a new conversation up to ``message_id``, opened."""
        try:
            fork = self.store.fork_conversation(message_id)
        except ChatStoreError as exc:
            self.notice.emit("error", f"The chat was not forked: {exc}.")
            return None
        self.conversations_changed.emit()
        self.open(fork.id)
        return fork

    def versions(self) -> dict[int, tuple[int, int]]:
        """‹ n/m › of the open conversation's messages that have other versions."""
        if self._conversation is None:
            return {}
        found = self.store.alternatives(self._conversation.id)
        return {message_id: (a.index, a.count) for message_id, a in found.items()}

    def edit_message(self, message_id: int, text: str) -> None:
        """Change a message's text in place (a reply, before Continue); nothing is resent."""
        if self.streaming_message_id == message_id:
            return
        self.message_changed.emit(self.store.replace_message_content(message_id, text))

    def continue_reply(self) -> bool:
        """Let the model carry on writing the last reply (interrupted, stopped or cut short)."""
        if self._refused():
            return False
        messages = self.messages()
        last = messages[-1] if messages else None
        if last is None or last.role != "assistant" or not (last.content or last.reasoning):
            return False
        return self._start_reply(continue_from=messages[-1])

    def stop(self) -> None:
        self.controller.stop()

    # -- the reply ----------------------------------------------------------------------------
    def _start_reply(self, *, continue_from: Message | None, sent: Message | None = None) -> bool:
        """Ask for the reply first, then update the views (the model starts on the prompt
        while the widgets are built): ``sent`` is the user message to show before it."""
        assert self._conversation is not None
        loaded = self.controller.loaded_model
        n_ctx = loaded.n_ctx if loaded is not None else 0
        sampling = self.sampling().capped(n_ctx)
        record = self._stream.start(
            self._conversation.id,
            self.prompt_messages(continuing=continue_from is not None),
            sampling,
            continue_from=continue_from,
        )
        if sent is not None:
            self.message_added.emit(sent)
        reply_message = self.store.get_message(record.message_id)
        if continue_from is None:
            self.message_added.emit(reply_message)
        else:
            self.message_changed.emit(reply_message)
        self.streaming_changed.emit(True)
        if sent is not None:
            self.conversations_changed.emit()
        return True

    def _on_reply_finished(self, final: Message | None, stats: ReplyStats) -> None:
        self._end_reply(final)
        if stats.dropped_messages:
            n = stats.dropped_messages
            self.notice.emit(
                "info",
                f"The {n} oldest message{'s were' if n != 1 else ' was'} left out so the "
                "conversation fits the model's context.",
            )
        self.reply_finished.emit(stats)

    def _on_reply_failed(self, final: Message | None, deleted: bool, message: str) -> None:
        self._end_reply(final)
        if deleted:
            self._reopen()
        self.notice.emit("error", message)

    def _end_reply(self, final: Message | None) -> None:
        if final is not None and final.conversation_id == self.conversation_id:
            self.message_changed.emit(final)
        self.streaming_changed.emit(False)
        self.conversations_changed.emit()

    # -- helpers ------------------------------------------------------------------------------
    def _refused(self) -> bool:
        reason = self.can_reply()
        if reason is not None:
            self.notice.emit("warning", reason)
            return True
        return False

    def _images_folder(self) -> Path:
        """Where the engine reads the chats' pictures from (files written from the database)."""
        return self.store.path.parent / "chat-images"

    def _reopen(self) -> None:
        self.open(self.conversation_id)

    def _model_path(self) -> str:
        loaded = self.controller.loaded_model
        return "" if loaded is None else str(loaded.path)

    def shutdown(self) -> None:
        """Save the streaming reply's text as it is (the app is closing)."""
        self._stream.interrupt()


def _with_content(message: Message, content: str, reasoning: str) -> Message:
    return replace(message, content=content, reasoning=reasoning)
