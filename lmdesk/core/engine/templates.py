"""Chat templates: the model's own (Jinja, from the GGUF) or a built-in one chosen by name.

A chat model only answers well when the conversation is laid out in the
format it was trained on. Most GGUF files carry that format as a Jinja
template (``tokenizer.chat_template``); some (Gemma-3-style base models) do
not, and llama-cpp-python then silently uses a llama-2 prompt whose replies
are garbage. lmdesk instead uses such a model for plain completion (the text
continues the prompt: right for a base model), says so, and offers the format it
guesses from the vocabulary and the architecture (`template_guess.template_for`) and
the other built-ins. It never falls back to llama-2. A person may also give a model
their own Jinja template (`CustomTemplate`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import jinja2
import jinja2.ext

from .errors import TemplateError
from .template_sandbox import TIME_LIMIT_S, TimedSandbox

Message = Mapping[str, str]
"""``{"role": "system" | "user" | "assistant", "content": "..."}``; an assistant message may
carry ``"reasoning_content"`` (its thinking), which only templates that read it use."""

TemplateVariables = Mapping[str, Any]
"""Extra variables for a Jinja template: ``enable_thinking``, ``reasoning_effort``, ``tools``."""

GGUF_TEMPLATE = "gguf"
"""Name of the template that comes with the model file."""
COMPLETION = "completion"
"""Name of "no template": the messages' text is continued as one document."""
CUSTOM_TEMPLATE = "custom"
"""Name of the person's own Jinja template for a model (an override)."""


class CustomTemplate(str):
    """A person's own Jinja chat template for a model (a per-model override), typed.

    The value is the template's source. The engine tells it from a template's name by its
    type, never by its text; being a `str`, it travels unchanged wherever a template's name
    is carried (``InferenceController.set_chat_template``, the model queue's jobs). The engine
    builds and checks it when it is chosen (`TemplateError` if it cannot be read).
    """

    __slots__ = ()

    def __new__(cls, source: str) -> CustomTemplate:
        if not isinstance(source, str) or not source.strip():
            raise ValueError("a custom chat template needs its Jinja source")
        return super().__new__(cls, source)

    @property
    def source(self) -> str:
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"CustomTemplate(<{len(self)} characters>)"


class ChatTemplate(Protocol):
    """Turns messages into the prompt text a model expects."""

    @property
    def name(self) -> str: ...

    @property
    def stop_strings(self) -> tuple[str, ...]:
        """Text that ends a turn in this format (in case the model writes it as plain text)."""
        ...

    def render(
        self,
        messages: Sequence[Message],
        *,
        add_generation_prompt: bool = True,
        variables: TemplateVariables | None = None,
    ) -> str: ...


def _content(message: Message) -> str:
    return str(message.get("content") or "")


def _render_chatml(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    out = [f"<|im_start|>{m['role']}\n{_content(m)}<|im_end|>\n" for m in messages]
    if add_generation_prompt:
        out.append("<|im_start|>assistant\n")
    return "".join(out)


def _render_llama3(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    out: list[str] = []
    for m in messages:
        out.append(
            f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{_content(m).strip()}<|eot_id|>"
        )
    if add_generation_prompt:
        out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def _render_gemma(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    # Gemma has no system role: the system text opens the first user turn.
    out: list[str] = []
    system = "".join(_content(m) + "\n\n" for m in messages if m["role"] == "system")
    for m in messages:
        if m["role"] == "system":
            continue
        role = "model" if m["role"] == "assistant" else "user"
        text = _content(m).strip()
        if role == "user" and system:
            text, system = system + text, ""
        out.append(f"<start_of_turn>{role}\n{text}<end_of_turn>\n")
    if system:  # only a system prompt so far
        out.append(f"<start_of_turn>user\n{system.strip()}<end_of_turn>\n")
    if add_generation_prompt:
        out.append("<start_of_turn>model\n")
    return "".join(out)


def _render_phi3(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    out = [f"<|{m['role']}|>\n{_content(m)}<|end|>\n" for m in messages]
    if add_generation_prompt:
        out.append("<|assistant|>\n")
    return "".join(out)


def _render_mistral(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    # [INST] user [/INST]assistant</s>; the system text joins the first user message.
    del add_generation_prompt  # the model answers right after [/INST]
    out: list[str] = []
    system = "".join(_content(m) + "\n\n" for m in messages if m["role"] == "system")
    for m in messages:
        if m["role"] == "system":
            continue
        if m["role"] == "assistant":
            out.append(f"{_content(m).strip()}</s>")
        else:
            out.append(f"[INST] {system}{_content(m).strip()} [/INST]")
            system = ""
    if system:
        out.append(f"[INST] {system.strip()} [/INST]")
    return "".join(out)


def _render_completion(messages: Sequence[Message], add_generation_prompt: bool) -> str:
    del add_generation_prompt
    return "".join(_content(m) for m in messages)


@dataclass(frozen=True)
class BuiltinTemplate:
    """A chat format lmdesk knows by itself, for models whose file has none.

    The text never starts with a BOS marker: the tokenizer adds BOS when the
    model's vocabulary asks for it, so it is never doubled or wrongly spelled.
    """

    name: str
    label: str
    renderer: Callable[[Sequence[Message], bool], str]
    stop_strings: tuple[str, ...] = ()

    def render(
        self,
        messages: Sequence[Message],
        *,
        add_generation_prompt: bool = True,
        variables: TemplateVariables | None = None,
    ) -> str:
        del variables  # the built-in formats have no switches (and leave thinking out)
        return self.renderer(messages, add_generation_prompt)


BUILTIN_TEMPLATES: dict[str, BuiltinTemplate] = {
    t.name: t
    for t in (
        BuiltinTemplate(
            "chatml",
            "ChatML (Qwen, SmolLM, many fine-tunes)",
            _render_chatml,
            ("<|im_end|>", "<|im_start|>"),
        ),
        BuiltinTemplate(
            "llama-3", "Llama 3", _render_llama3, ("<|eot_id|>", "<|start_header_id|>")
        ),
        BuiltinTemplate("gemma", "Gemma", _render_gemma, ("<end_of_turn>", "<start_of_turn>")),
        BuiltinTemplate("phi-3", "Phi-3", _render_phi3, ("<|end|>", "<|user|>")),
        BuiltinTemplate(
            "mistral-instruct", "Mistral Instruct", _render_mistral, ("</s>", "[INST]")
        ),
        BuiltinTemplate(COMPLETION, "Plain completion (no chat format)", _render_completion),
    )
}


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Hugging Face's ``{% generation %}`` tag marks training spans; it renders its body."""

    tags = {"generation"}  # noqa: RUF012 - jinja2's own class attribute

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Transformers renders JSON this way in chat templates; Jinja's own escapes HTML.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _raise_exception(message: str) -> None:
    raise TemplateError(f"the chat template refused this conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class JinjaTemplate:
    """A Jinja chat template (the model file's, or the person's override), rendered as
    Transformers' ``apply_chat_template`` and llama.cpp's Jinja path do it.

    Same sandbox (`ImmutableSandboxedEnvironment`, ``trim_blocks``, ``lstrip_blocks``), same
    globals (``raise_exception``, ``strftime_now``, ``bos_token``, ``eos_token``,
    ``add_generation_prompt``, ``tools``) and the same ``tojson``. A template that raises
    gives a `TemplateError` with its message; one that runs past ``time_limit_s`` (a loop
    that never ends in practice) or builds huge text is stopped with a `TemplateError`.
    """

    def __init__(
        self,
        source: str,
        *,
        bos_token: str,
        eos_token: str,
        name: str = GGUF_TEMPLATE,
        time_limit_s: float = TIME_LIMIT_S,
    ) -> None:
        environment = TimedSandbox(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
        )
        environment.filters["tojson"] = _tojson
        environment.globals["raise_exception"] = _raise_exception
        environment.globals["strftime_now"] = _strftime_now
        try:
            self._template = environment.from_string(source)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the chat template cannot be read: {exc}") from exc
        self._environment = environment
        self._name = name
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.time_limit_s = time_limit_s
        self.reads_thinking = "thinking" in source and "reasoning_content" not in source
        """gpt-oss's template reads a message's thinking as ``message.thinking``."""

    @property
    def name(self) -> str:
        return self._name

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return ()  # the end-of-turn token is an end-of-generation token in the vocabulary

    def render(
        self,
        messages: Sequence[Message],
        *,
        add_generation_prompt: bool = True,
        variables: TemplateVariables | None = None,
    ) -> str:
        context: dict[str, Any] = {
            "tools": None,
            "documents": None,
            **(variables or {}),
            "messages": [self._message(m) for m in messages],
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "add_generation_prompt": add_generation_prompt,
        }
        try:
            with self._environment.time_limit(self.time_limit_s):
                return "".join(self._pieces(context))
        except TemplateError:
            raise
        except RecursionError as exc:
            raise TemplateError("the chat template calls itself without end") from exc
        except Exception as exc:  # jinja2 errors and whatever the template's code raises
            raise TemplateError(f"the chat template failed: {exc}") from exc

    def _pieces(self, context: dict[str, Any]) -> Iterator[str]:
        for piece in self._template.generate(context):
            self._environment.check_time()
            yield piece

    def _message(self, message: Message) -> dict[str, Any]:
        out = dict(message)
        if self.reads_thinking and out.get("reasoning_content"):
            out["thinking"] = out["reasoning_content"]
        return out


def builtin_template(name: str) -> BuiltinTemplate:
    try:
        return BUILTIN_TEMPLATES[name]
    except KeyError:
        choices = ", ".join(BUILTIN_TEMPLATES)
        raise TemplateError(f"no chat template called {name!r} (choose one of {choices})") from None
