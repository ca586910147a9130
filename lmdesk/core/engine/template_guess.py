"""Picking a chat format for a model whose file carries no template.

Gemma-3-style base models ship without ``tokenizer.chat_template``; llama-cpp-python
would then use a llama-2 prompt and the replies are garbage. `template_for`
reads the evidence there is (the vocabulary's control tokens, the
architecture, the model's name) and says why it picked a format, so the UI can
tell the person and offer another format or plain completion. It never answers llama-2.

A guess is never confident: a base model's vocabulary has the chat tokens too
(Gemma-3-270M base has ``<start_of_turn>`` and no template, and answers garbage
in the Gemma format). Only a template in the file, or the person's choice, is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True)
class TemplateChoice:
    """A built-in template picked for a model whose file has none, and why."""

    name: str
    reason: str
    confident: bool = False
    """Always False for a guess: only the file's own template or the person's choice is sure."""


# Control tokens that only one chat format uses: the strongest evidence there is.
_MARKERS: tuple[tuple[str, str], ...] = (
    ("<start_of_turn>", "gemma"),
    ("<|start_header_id|>", "llama-3"),
    ("<|im_start|>", "chatml"),
    ("<|assistant|>", "phi-3"),
    ("[INST]", "mistral-instruct"),
)
MARKER_TOKENS: tuple[str, ...] = tuple(marker for marker, _ in _MARKERS)
"""Strings the engine checks for as single tokens in a model's vocabulary."""

_ARCHITECTURES: dict[str, str] = {
    "gemma": "gemma",
    "gemma2": "gemma",
    "gemma3": "gemma",
    "gemma3n": "gemma",
    "qwen": "chatml",
    "qwen2": "chatml",
    "qwen2moe": "chatml",
    "qwen3": "chatml",
    "qwen3moe": "chatml",
    "qwen2vl": "chatml",
    "smollm3": "chatml",
    "internlm2": "chatml",
    "phi3": "phi-3",
    "phimoe": "phi-3",
    "mistral3": "mistral-instruct",
}
_NAME_HINTS: tuple[tuple[str, str], ...] = (
    ("gemma", "gemma"),
    ("llama-3", "llama-3"),
    ("llama3", "llama-3"),
    ("llama 3", "llama-3"),
    ("mistral", "mistral-instruct"),
    ("mixtral", "mistral-instruct"),
    ("phi-3", "phi-3"),
    ("phi3", "phi-3"),
    ("qwen", "chatml"),
    ("smollm", "chatml"),
)


def template_for(
    architecture: str, *, model_name: str = "", special_tokens: Collection[str] = ()
) -> TemplateChoice:
    """Pick a built-in chat format for a model whose file carries no template.

    Evidence, strongest first: the format's control tokens in the vocabulary
    (``special_tokens``: those of `MARKER_TOKENS` the vocabulary has as single
    tokens), the architecture, words in the model's name. With none of them
    it answers ChatML; never llama-2. The choice is never confident: it may be
    a base model, which has the chat tokens but was never trained to chat.
    """
    for marker, name in _MARKERS:
        if marker in special_tokens:
            return TemplateChoice(name, f"the vocabulary has the {marker} token")
    arch = architecture.strip().lower()
    if arch in _ARCHITECTURES:
        name = _ARCHITECTURES[arch]
        return TemplateChoice(name, f"the architecture is {arch}")
    lowered = model_name.lower()
    for hint, name in _NAME_HINTS:
        if hint in lowered:
            return TemplateChoice(name, f"the model's name mentions {hint!r}")
    if arch == "llama":
        return TemplateChoice("chatml", "llama-architecture fine-tunes mostly use ChatML")
    return TemplateChoice(
        "chatml", "nothing in the file names a chat format; ChatML is the most common"
    )
