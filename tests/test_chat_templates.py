"""Real chat templates render as Hugging Face's ``apply_chat_template`` renders them; bad
templates end in a clear error within the time limit, never a hang."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from transformers.utils import chat_template_utils

from lmdesk.core.engine.errors import TemplateError
from lmdesk.core.engine.templates import JinjaTemplate

FIXTURES = Path(__file__).parent / "fixtures" / "chat_templates"
TOKENS = {  # bos and eos as each model's tokenizer names them
    "Qwen-Qwen3-0.6B": ("", "<|im_end|>"),
    "openai-gpt-oss-120b": ("<|startoftext|>", "<|return|>"),
    "meta-llama-Llama-3.1-8B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "google-gemma-2-2b-it": ("<bos>", "<eos>"),
    "Mistral-Small-3.2-24B-Instruct-2506": ("<s>", "</s>"),
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": (
        "<｜begin▁of▁sentence｜>",
        "<｜end▁of▁sentence｜>",
    ),
    "mistralai-Ministral-3-14B-Reasoning-2512": ("<s>", "</s>"),
}
SYSTEMLESS = {"google-gemma-2-2b-it"}  # raises "System role not supported", by design

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city's name"}},
            "required": ["city"],
        },
    },
}


def _conversation(name: str, *, thinking: bool) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = (
        []
        if name in SYSTEMLESS
        else [{"role": "system", "content": "You are brief. Ünïcödé & <html> stay as is."}]
    )
    answer: dict[str, Any] = {"role": "assistant", "content": "Paris."}
    if thinking:
        answer["reasoning_content"] = "France's capital is Paris."
        answer["thinking"] = "France's capital is Paris."
    return [
        *turns,
        {"role": "user", "content": "What is the capital of France?"},
        answer,
        {"role": "user", "content": "And of Italy?"},
    ]


def _ours(name: str, messages: list[dict[str, Any]], **variables: Any) -> str:
    bos, eos = TOKENS[name]
    template = JinjaTemplate((FIXTURES / f"{name}.jinja").read_text(), bos_token=bos, eos_token=eos)
    plain = [{k: v for k, v in m.items() if k != "thinking"} for m in messages]
    return template.render(plain, add_generation_prompt=True, variables=variables)


def _theirs(name: str, messages: list[dict[str, Any]], **variables: Any) -> str:
    bos, eos = TOKENS[name]
    rendered, _ = chat_template_utils.render_jinja_template(
        conversations=[messages],
        chat_template=(FIXTURES / f"{name}.jinja").read_text(),
        add_generation_prompt=True,
        bos_token=bos,
        eos_token=eos,
        **variables,
    )
    return str(rendered[0])


@pytest.mark.parametrize("name", sorted(TOKENS))
@pytest.mark.parametrize("thinking", [False, True], ids=["plain", "with-thinking"])
def test_real_templates_render_as_transformers_does(name: str, thinking: bool) -> None:
    messages = _conversation(name, thinking=thinking)
    ours = _ours(name, messages)
    assert ours == _theirs(name, messages)
    assert "And of Italy?" in ours


@pytest.mark.parametrize(
    ("name", "variables", "expected"),
    [
        ("Qwen-Qwen3-0.6B", {"enable_thinking": False}, "<think>\n\n</think>\n\n"),
        ("Qwen-Qwen3-0.6B", {"enable_thinking": True}, "<|im_start|>assistant\n"),
        ("openai-gpt-oss-120b", {"reasoning_effort": "high"}, "Reasoning: high"),
        ("openai-gpt-oss-120b", {"reasoning_effort": "low"}, "Reasoning: low"),
    ],
)
def test_thinking_switches_render_as_transformers_does(
    name: str, variables: dict[str, Any], expected: str
) -> None:
    messages = _conversation(name, thinking=False)
    ours = _ours(name, messages, **variables)
    assert ours == _theirs(name, messages, **variables)
    assert expected in ours


@pytest.mark.parametrize("name", ["Qwen-Qwen3-0.6B", "meta-llama-Llama-3.1-8B-Instruct"])
def test_tools_render_as_transformers_does(name: str) -> None:
    messages = _conversation(name, thinking=False)
    ours = _ours(name, messages, tools=[WEATHER_TOOL])
    assert ours == _theirs(name, messages, tools=[WEATHER_TOOL])
    assert "get_weather" in ours


def test_thinking_is_kept_or_dropped_as_the_template_says() -> None:
    # Qwen3 drops the thinking of turns before the last question; gpt-oss drops it too.
    for name in ("Qwen-Qwen3-0.6B", "openai-gpt-oss-120b"):
        assert "France's capital" not in _ours(name, _conversation(name, thinking=True))
    # A reply after the last question (a tool round) keeps its thinking in Qwen3.
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Checking.", "reasoning_content": "Call the tool."},
    ]
    bos, eos = TOKENS["Qwen-Qwen3-0.6B"]
    source = (FIXTURES / "Qwen-Qwen3-0.6B.jinja").read_text()
    rendered = JinjaTemplate(source, bos_token=bos, eos_token=eos).render(
        messages, add_generation_prompt=False
    )
    assert "<think>\nCall the tool.\n</think>" in rendered


def test_a_template_that_raises_gives_its_message() -> None:
    template = JinjaTemplate(
        (FIXTURES / "google-gemma-2-2b-it.jinja").read_text(), bos_token="<bos>", eos_token=""
    )
    with pytest.raises(TemplateError, match="refused this conversation: System role not"):
        template.render([{"role": "system", "content": "x"}, {"role": "user", "content": "y"}])


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for m in messages %}{% for j in range(100000) %}"
        "{% set x = m.content %}{% endfor %}{% endfor %}{% endfor %}",
    ],
    ids=["silent-loop", "loud-loop", "attribute-loop"],
)
def test_a_template_that_loops_is_stopped_at_the_time_limit(source: str) -> None:
    template = JinjaTemplate(source, bos_token="", eos_token="", time_limit_s=0.5)
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"ran for over 0.5 s and was stopped"):
        template.render([{"role": "user", "content": "hi"}])
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{{ 'x' * 10000000000 }}", "far too much text"),
        ("{{ messages * 100000000 }}", "far too much text"),
        ("{{ 10 ** 100000000 }}", "huge power"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself"),
        ("{{ ''.__class__.__mro__ }}", "failed"),
        ("{% set ns = namespace(_x=1) %}", "may not set"),
        ("{% for m in messages %}", "cannot be read"),
    ],
    ids=["text-bomb", "list-bomb", "power", "recursion", "escape", "namespace", "syntax"],
)
def test_hostile_templates_end_in_a_clear_error(source: str, match: str) -> None:
    with pytest.raises(TemplateError, match=match):
        JinjaTemplate(source, bos_token="", eos_token="").render(
            [{"role": "user", "content": "hi"}]
        )
