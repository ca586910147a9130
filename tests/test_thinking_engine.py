"""Thinking through the real engine: SmolLM2 under a Qwen3/DeepSeek-style template override."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lmdesk.core.engine import Engine, ReplyStats, TextChunk
from lmdesk.core.engine.errors import TemplateError
from lmdesk.core.engine.templates import CustomTemplate
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.reasoning import split_reasoning
from lmdesk.core.sampling import SamplingSettings

# ChatML with Qwen3's switch: thinking off writes an empty, closed block into the prompt;
# thinking on (the default) opens it, as DeepSeek-R1's template does.
THINKING_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% if m.reasoning_content is defined and loop.last %}[kept thinking]{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% else %}<think>\n{% endif %}{% endif %}"
)
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(smollm2_path, LoadSettings(n_ctx=512, n_batch=256, n_ubatch=256, n_threads=1))
    engine.chat_template = CustomTemplate(THINKING_CHATML)
    yield engine
    engine.unload()


def _drain(engine: Engine, sampling: SamplingSettings) -> tuple[list[TextChunk], ReplyStats]:
    *chunks, stats = list(engine.chat(QUESTION, sampling))
    assert isinstance(stats, ReplyStats)
    return chunks, stats  # type: ignore[return-value]


def test_a_prompt_that_opens_thinking_starts_the_reply_with_the_tag(engine: Engine) -> None:
    assert engine.chat_template == "custom"
    chunks, stats = _drain(engine, SamplingSettings(temperature=0, max_tokens=12))
    assert chunks[0] == TextChunk("<think>", 0)  # the prompt's tag, no token of the reply
    assert stats.text == "".join(c.text for c in chunks) and stats.text.startswith("<think>")
    reasoning, answer = split_reasoning(stats.text)
    assert reasoning.strip()
    # Everything SmolLM2 wrote is inside the block it never closes, so all of it is thinking.
    if "</think>" not in stats.text:
        assert answer == ""
        assert stats.reasoning_tokens == stats.generated_tokens > 0
        assert stats.answer_tokens == 0
    assert stats.reasoning_s > 0


def test_the_thinking_switch_reaches_the_template(engine: Engine) -> None:
    off = SamplingSettings(temperature=0, max_tokens=6, thinking=False)
    assert engine.render_prompt(QUESTION, variables=off.template_variables()).endswith(
        "<think>\n\n</think>\n\n"
    )
    _, stats = _drain(engine, off)
    assert not stats.text.startswith("<think>")
    assert stats.reasoning_tokens == 0 and stats.answer_tokens == stats.generated_tokens
    assert stats.answer_tokens_per_s == stats.tokens_per_s


def test_thinking_reaches_only_templates_that_read_it(engine: Engine) -> None:
    turns = [
        *QUESTION,
        {"role": "assistant", "content": "4", "reasoning_content": "two and two"},
    ]
    assert "[kept thinking]" in engine.render_prompt(turns)
    engine.chat_template = "chatml"  # the built-in leaves thinking out of the prompt
    try:
        prompt = engine.render_prompt(turns)
        assert "two and two" not in prompt and "<|im_start|>assistant\n4<|im_end|>" in prompt
    finally:
        engine.chat_template = CustomTemplate(THINKING_CHATML)


def test_a_custom_template_that_cannot_be_read_is_refused_and_the_old_one_kept(
    engine: Engine,
) -> None:
    with pytest.raises(TemplateError, match="cannot be read"):
        engine.chat_template = CustomTemplate("{% for m in messages %}")
    assert engine.chat_template == "custom"


def test_a_custom_template_is_told_from_a_name_by_its_type_not_its_text(engine: Engine) -> None:
    # The old "custom:\n" + source string is no template any more: only the typed value is.
    with pytest.raises(TemplateError):
        engine.chat_template = "custom:\n" + THINKING_CHATML
    assert engine.chat_template == "custom"
    engine.chat_template = "chatml"
    engine.chat_template = CustomTemplate(THINKING_CHATML)
    assert engine.chat_template == "custom" and "<think>" in engine.render_prompt(QUESTION)
    with pytest.raises(ValueError, match="needs its Jinja source"):
        CustomTemplate("  ")
