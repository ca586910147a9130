"""The reasoning splitter: every format, and every way a stream can be cut into chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdesk.core.reasoning import (
    ReasoningSplitter,
    opened_in_prompt,
    split_reasoning,
    thinking_switches,
)

THOUGHT = "The user greets me. 2 < 3 and <b> is not a tag; answer briefly."
ANSWER = "Hello! How can I help?"

REPLIES = [
    pytest.param(f"<think>\n{THOUGHT}\n</think>\n\n{ANSWER}", f"\n{THOUGHT}\n", ANSWER, id="think"),
    pytest.param(f"<thinking>{THOUGHT}</thinking>{ANSWER}", THOUGHT, ANSWER, id="thinking"),
    pytest.param(f"<reasoning>{THOUGHT}</reasoning> {ANSWER}", THOUGHT, ANSWER, id="reasoning"),
    pytest.param(f"<seed:think>{THOUGHT}</seed:think>{ANSWER}", THOUGHT, ANSWER, id="seed"),
    pytest.param(f"[THINK]{THOUGHT}[/THINK]{ANSWER}", THOUGHT, ANSWER, id="magistral"),
    pytest.param(
        f"<|START_THINKING|>{THOUGHT}<|END_THINKING|>{ANSWER}", THOUGHT, ANSWER, id="command-r"
    ),
    pytest.param(
        f"<|channel|>analysis<|message|>{THOUGHT}<|end|>"
        f"<|start|>assistant<|channel|>final<|message|>{ANSWER}<|return|>",
        THOUGHT,
        ANSWER,
        id="gpt-oss",
    ),
    pytest.param(
        # llama.cpp does not render <|end|> (a control token): <|start|> ends the analysis.
        f"<|channel|>analysis<|message|>{THOUGHT}<|start|>assistant<|channel|>final<|message|>"
        f"{ANSWER}",
        THOUGHT,
        ANSWER,
        id="gpt-oss-no-end",
    ),
    pytest.param(ANSWER, "", ANSWER, id="no-thinking"),
    pytest.param("<b>bold</b> is HTML", "", "<b>bold</b> is HTML", id="html-not-thinking"),
    pytest.param(f"<think>{THOUGHT}", THOUGHT, "", id="cut-off-thinking"),
    pytest.param(f"{ANSWER} <think>late</think>", "", f"{ANSWER} <think>late</think>", id="late"),
    pytest.param("<thi", "", "<thi", id="partial-tag-only"),
]


def _split(chunks: list[str]) -> tuple[str, str]:
    splitter = ReasoningSplitter()
    reasoning, content = "", ""
    for chunk in chunks:
        r, c = splitter.feed(chunk)
        reasoning, content = reasoning + r, content + c
    r, c = splitter.finish()
    reasoning, content = reasoning + r, content + c
    assert (splitter.reasoning, splitter.content) == (reasoning, content)
    return reasoning, content


@pytest.mark.parametrize(("text", "reasoning", "answer"), REPLIES)
def test_whole_replies_split_into_thinking_and_answer(
    text: str, reasoning: str, answer: str
) -> None:
    assert split_reasoning(text) == (reasoning, answer)


@pytest.mark.parametrize(("text", "reasoning", "answer"), REPLIES)
def test_a_cut_at_every_position_gives_the_same_split(
    text: str, reasoning: str, answer: str
) -> None:
    for cut in range(len(text) + 1):
        assert _split([text[:cut], text[cut:]]) == (reasoning, answer), f"cut at {cut}"


@pytest.mark.parametrize(("text", "reasoning", "answer"), REPLIES)
def test_one_character_at_a_time_gives_the_same_split(
    text: str, reasoning: str, answer: str
) -> None:
    assert _split(list(text)) == (reasoning, answer)


def test_two_cuts_around_both_tags() -> None:
    text = f"<think>{THOUGHT}</think>{ANSWER}"
    close = text.index("</think>")
    for first in range(0, 12):
        for second in range(close - 2, close + 11):
            chunks = [text[:first], text[first:second], text[second:]]
            assert _split(chunks) == (THOUGHT, ANSWER)


def test_marker_text_is_never_shown_while_streaming() -> None:
    splitter = ReasoningSplitter()
    shown = []
    for ch in f"<think>{THOUGHT}</think>{ANSWER}":
        shown.append(splitter.feed(ch))
    for reasoning, content in shown:  # not even a part of a marker flashes up
        assert not any(part in reasoning + content for part in ("<t", "</", "k>"))
    assert "".join(r for r, _ in shown) == THOUGHT[: len(THOUGHT)]


def test_the_splitter_says_while_it_is_inside_the_thinking() -> None:
    splitter = ReasoningSplitter()
    assert splitter.undecided and not splitter.thinking
    splitter.feed("<think>hmm")
    assert splitter.thinking and splitter.format == "tags"
    splitter.feed("</think>Hi")
    assert not splitter.thinking and not splitter.undecided


def test_a_prompt_that_opened_the_thinking_is_recognised() -> None:
    assert opened_in_prompt("<｜Assistant｜><think>\n") == "<think>"
    assert opened_in_prompt("<|im_start|>assistant\n<think>\n\n</think>\n\n") == ""
    assert opened_in_prompt("<|im_start|>assistant\n") == ""


def test_template_switches_are_read_from_the_template() -> None:
    qwen3 = "{%- if enable_thinking is defined and enable_thinking is false %}"
    gpt_oss = "Reasoning: {{ reasoning_effort }}"
    assert (
        thinking_switches(qwen3).enable_thinking and not thinking_switches(qwen3).reasoning_effort
    )
    assert thinking_switches(gpt_oss).reasoning_effort
    assert not thinking_switches(None).any


def test_continue_puts_the_thinking_back_where_the_model_left_it() -> None:
    from lmdesk.core.reasoning import reply_so_far

    opened = "<|im_start|>assistant\n<think>\n"  # the template opened the thinking
    assert reply_so_far(opened, "", "Two plus") == "Two plus"
    assert reply_so_far(opened, "4", "Two plus two.\n") == "Two plus two.\n</think>\n\n4"
    plain = "<|im_start|>assistant\n"  # the model opened it itself
    assert reply_so_far(plain, "", "\nTwo plus") == "<think>\nTwo plus"
    assert reply_so_far(plain, "4", "") == "4"


def test_a_splitter_can_start_inside_the_thinking_of_a_reply_cut_off_while_thinking() -> None:
    splitter = ReasoningSplitter(answer_only=True, inside="<think>")
    assert splitter.thinking and splitter.format == "tags"
    for chunk in (" two is", " four.</th", "ink>\n\n4"):
        splitter.feed(chunk)
    splitter.finish()
    assert (splitter.reasoning, splitter.content) == (" two is four.", "4")
    with pytest.raises(ValueError, match="not a thinking tag"):
        ReasoningSplitter(inside="<ponder>")


def test_continue_of_a_gpt_oss_reply_writes_its_channels_not_tags() -> None:
    from lmdesk.core.reasoning import reply_so_far

    prompt = "<|start|>user<|message|>2+2?<|end|><|start|>assistant"  # gpt-oss's generation
    assert reply_so_far(prompt, "", "Two plus") == "<|channel|>analysis<|message|>Two plus"
    assert reply_so_far(prompt, "4", "Two plus two.") == (
        "<|channel|>analysis<|message|>Two plus two."
        "<|end|><|start|>assistant<|channel|>final<|message|>4"
    )
    assert reply_so_far(prompt, "4", "") == "4"


def test_a_continued_thinking_block_that_is_gpt_oss_analysis_ends_at_its_channel_marker() -> None:
    splitter = ReasoningSplitter(answer_only=True, inside="<think>")
    for chunk in (" two is four.<|e", "nd|><|start|>assis", "tant<|channel|>final<|mess", "age|>4"):
        splitter.feed(chunk)
    splitter.finish()
    assert (splitter.reasoning, splitter.content) == (" two is four.", "4")
    assert splitter.format == "channels"


def test_gpt_oss_continue_text_is_what_its_own_template_writes_for_that_reply() -> None:
    """The real gpt-oss chat template renders a finished reply the same way, so Continue
    shows the model its own format."""
    from lmdesk.core.engine.templates import JinjaTemplate
    from lmdesk.core.reasoning import reply_so_far

    source = Path(__file__).parent / "fixtures/chat_templates/openai-gpt-oss-120b.jinja"
    template = JinjaTemplate(
        source.read_text(encoding="utf-8"), bos_token="<|startoftext|>", eos_token="<|return|>"
    )
    question = [{"role": "user", "content": "2+2?"}]
    head = template.render(question, add_generation_prompt=True)
    whole = template.render(
        [*question, {"role": "assistant", "content": "4", "reasoning_content": "Two plus two."}],
        add_generation_prompt=False,
    )
    assert head + reply_so_far(head, "4", "Two plus two.") + "<|return|>" == whole
