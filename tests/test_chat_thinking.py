"""Thinking in the chat page: real SmolLM2 under a DeepSeek-R1-style template (the prompt opens
``<think>``), taught by two earlier turns to think briefly, close the block and answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_helpers import SETTINGS, no_dangling_qthreads  # noqa: F401
from pytestqt.qtbot import QtBot

from lmdesk.core.engine import Engine
from lmdesk.core.engine.templates import CustomTemplate
from lmdesk.core.reasoning import ThinkingSwitches
from lmdesk.ui.pages.chat.page import ChatPage

REPLY_TIMEOUT_MS = 120_000
# Earlier turns show their thinking to the model (as a reasoning model's own history would).
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.reasoning_content is defined %}<think>\n{{ m.reasoning_content }}\n</think>\n\n"
    "{% endif %}{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)
SHOTS = [
    ("What is 1 + 1?", "One plus one is two.", "2"),
    ("What is 3 + 3?", "Three plus three is six.", "6"),
]


@pytest.fixture(autouse=True)
def _no_thread_left(no_dangling_qthreads: None) -> Iterator[None]:  # noqa: F811
    yield


def _thinking_model(qtbot: QtBot, page: ChatPage, model: Path) -> None:
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(model), SETTINGS)
    with qtbot.waitSignal(page.controller.template_changed, timeout=10_000) as changed:
        page.controller.set_chat_template(CustomTemplate(THINKING_TEMPLATE))
    assert changed.args == ["custom", ""]


def _conversation_with_shots(page: ChatPage) -> int:
    conversation = page.store.create_conversation("Sums")
    for question, thought, answer in SHOTS:
        page.store.add_message(conversation.id, "user", question)
        page.store.add_message(conversation.id, "assistant", answer, reasoning=thought)
    page.conversations.refresh(select=conversation.id)
    page.session.open(conversation.id)
    page.session.set_sampling(
        page.session.sampling().with_changes(temperature=0.0, max_tokens=40, seed=1)
    )
    return conversation.id


def test_thinking_streams_into_its_own_block_and_survives_a_restart(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path, tmp_path: Path
) -> None:
    page = make_page()
    _thinking_model(qtbot, page, smollm2_path)
    conversation_id = _conversation_with_shots(page)
    streamed_thinking: list[str] = []
    streamed_answer: list[str] = []
    page.session.reply_reasoning.connect(lambda _id, text: streamed_thinking.append(text))
    page.session.reply_text.connect(lambda _id, text: streamed_answer.append(text))
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS) as finished:
        page.send("What is 2 + 2?")
    stats = finished.args[0]

    reply = page.store.messages(conversation_id)[-1]
    assert reply.role == "assistant" and reply.state == "complete"
    assert "Two plus two is four" in reply.reasoning and "<think>" not in reply.reasoning
    assert reply.content == "4" and "</think>" not in reply.content
    assert "".join(streamed_thinking) == reply.reasoning and "".join(streamed_answer) == "4"
    # The answer's stats count only the answer; the thinking has its own.
    assert stats.reasoning_tokens > 0 and stats.answer_tokens >= 1
    assert reply.stats is not None
    assert reply.stats.generated_tokens == stats.answer_tokens
    assert reply.stats.reasoning_tokens == stats.reasoning_tokens

    widget = page.messages.widgets()[-1]
    block = widget.thinking
    assert block.isVisible() and not block.expanded  # folded away once the answer came
    assert block.toggle.text().startswith("▸ Thought for ")
    assert f"{stats.reasoning_tokens} token" in block.toggle.text()
    assert widget.text() == "4"
    assert f"{stats.answer_tokens} token" in widget.stats.text()
    block.toggle.click()
    assert block.expanded and block.body.isVisible()
    assert block.text() == reply.reasoning
    qtbot.waitUntil(lambda: block.height() >= block.sizeHint().height())  # laid out again
    page.grab().save(str(tmp_path / "thinking.png"))

    # The next turn's prompt carries the thinking only because this template reads it.
    turns = page.session.prompt_messages("And 5 + 5?")
    assert turns[-2] == {"role": "assistant", "content": "4", "reasoning_content": reply.reasoning}

    page.shutdown()
    again = make_page()  # a restart: the thinking is read back from disk
    again.session.open(conversation_id)
    block = again.messages.widgets()[-1].thinking
    assert not block.isHidden() and not block.expanded and block.text() == reply.reasoning
    assert again.messages.widgets()[-1].text() == "4"


def test_a_reply_cut_off_while_thinking_can_be_continued_with_its_thinking(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    _thinking_model(qtbot, page, smollm2_path)
    conversation_id = _conversation_with_shots(page)
    page.session.set_sampling(page.session.sampling().with_changes(max_tokens=3))
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS):
        page.send("What is 2 + 2?")
    cut = page.store.messages(conversation_id)[-1]
    assert cut.content == "" and cut.reasoning.startswith("Two plus")  # 3 tokens of thinking
    assert cut.stats is not None and cut.stats.stop_reason == "max_tokens"
    widget = page.messages.widgets()[-1]
    assert widget.continue_button.isVisible()  # offered, though there is no answer yet

    # Continue's prompt ends inside the thinking the reply had written.
    turns = page.session.prompt_messages(continuing=True)
    assert turns[-1] == {"role": "assistant", "content": "", "reasoning_content": cut.reasoning}
    engine = Engine()  # the same model and template, to read the prompt the reply runs on
    engine.load(smollm2_path, SETTINGS, chat_template=CustomTemplate(THINKING_TEMPLATE))
    try:
        prompt = engine.render_prompt(turns, continue_last=True)
    finally:
        engine.unload()
    assert prompt.endswith("<|im_start|>assistant\n<think>\n" + cut.reasoning)

    page.session.set_sampling(page.session.sampling().with_changes(max_tokens=40))
    with qtbot.waitSignal(page.session.reply_finished, timeout=REPLY_TIMEOUT_MS):
        widget.continue_button.click()
    done = page.store.messages(conversation_id)[-1]
    assert done.id == cut.id and done.state == "complete"
    assert done.reasoning.startswith(cut.reasoning) and "four" in done.reasoning
    assert "</think>" not in done.reasoning and done.content == "4"


def test_the_thinking_switch_shows_for_a_template_that_has_one_and_is_kept_per_chat(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    page.tabs.setCurrentWidget(page.sampling)
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    tab = page.sampling
    assert tab.thinking.isHidden() and tab.reasoning_effort.isHidden()  # SmolLM2 has none
    page.sampling.set_switches(ThinkingSwitches(enable_thinking=True))  # as for Qwen3
    assert not tab.thinking.isHidden() and tab.reasoning_effort.isHidden()
    conversation_id = page.session.new_conversation().id
    tab.thinking.setCurrentText("Off")
    assert page.session.sampling().thinking is False
    assert page.session.sampling().template_variables() == {"enable_thinking": False}
    page.shutdown()
    again = make_page()
    again.session.open(conversation_id)
    assert again.session.sampling().thinking is False


def test_a_template_override_is_previewed_kept_per_model_and_checked(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path, tmp_path: Path
) -> None:
    page = make_page()
    page.tabs.setCurrentWidget(page.template)
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    tab = page.template
    assert "<|im_start|>" in tab.editor.toPlainText()  # SmolLM2's own template
    assert "file's own template" in tab.status.text()
    page.session.new_conversation()
    page.store.add_message(page.session.conversation_id, "user", "Hello there")
    page.session.open(page.session.conversation_id)
    qtbot.waitUntil(lambda: "Hello there" in tab.preview.toPlainText(), timeout=10_000)
    assert tab.preview.toPlainText().endswith("<|im_start|>assistant\n")

    # A template that does not parse is refused with a message; the file's stays in use.
    tab.editor.setPlainText("{% for m in messages %}")
    tab.apply_button.click()
    assert "Not used" in tab.error.text()
    assert page.store.model_preferences(str(smollm2_path)).chat_template is None

    # One that parses is kept for this model and used at once; the preview follows it.
    with qtbot.waitSignal(page.controller.template_changed, timeout=10_000):
        tab.editor.setPlainText(THINKING_TEMPLATE)
        tab.apply_button.click()
    assert "Your own template" in tab.status.text()
    qtbot.waitUntil(lambda: tab.preview.toPlainText().endswith("<think>\n"), timeout=10_000)
    page.grab().save(str(tmp_path / "template-tab.png"))
    assert page.store.model_preferences(str(smollm2_path)).chat_template == THINKING_TEMPLATE
    page.shutdown()

    again = make_page()  # a restart: the override is used again for this model
    with qtbot.waitSignal(again.controller.template_changed, timeout=60_000) as changed:
        again.load_model(str(smollm2_path), SETTINGS)
    assert changed.args == ["custom", ""]
    with qtbot.waitSignal(again.controller.template_changed, timeout=10_000) as changed:
        again.template.reset_button.click()
    assert changed.args == ["gguf", ""]
    assert again.store.model_preferences(str(smollm2_path)).chat_template is None


def test_a_template_that_loops_shows_an_error_in_the_preview_not_a_hang(
    qtbot: QtBot, make_page: Callable[[], ChatPage], smollm2_path: Path
) -> None:
    page = make_page()
    with qtbot.waitSignal(page.controller.loaded, timeout=60_000):
        page.load_model(str(smollm2_path), SETTINGS)
    looping = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    tab = page.template
    with qtbot.waitSignal(page.controller.template_changed, timeout=10_000):
        tab.editor.setPlainText(looping)
        tab.apply_button.click()
    qtbot.waitUntil(lambda: "was stopped" in tab.error.text(), timeout=15_000)
    # Sending under it fails with the same clear message; the app stays usable.
    with qtbot.waitSignal(page.session.notice, timeout=30_000) as notice:
        page.send("Hi")
    assert notice.args[0] == "error" and "was stopped" in notice.args[1]


def test_the_template_tab_spells_the_engines_template_names() -> None:
    from lmdesk.core.engine import templates
    from lmdesk.ui.pages.chat import template_tab

    assert template_tab.CUSTOM_TEMPLATE == templates.CUSTOM_TEMPLATE
    assert template_tab.GGUF_TEMPLATE == templates.GGUF_TEMPLATE
