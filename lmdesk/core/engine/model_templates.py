"""The chat formats one loaded model can use: its own template, if readable, and the guess."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import TemplateError
from .native import NativeModel
from .template_guess import MARKER_TOKENS, TemplateChoice, template_for
from .templates import (
    BUILTIN_TEMPLATES,
    COMPLETION,
    CUSTOM_TEMPLATE,
    GGUF_TEMPLATE,
    ChatTemplate,
    CustomTemplate,
    JinjaTemplate,
    builtin_template,
)


@dataclass(frozen=True)
class ModelTemplates:
    gguf: JinjaTemplate | None
    """The template from the file; None when it has none or it cannot be read."""
    choice: TemplateChoice | None
    """The built-in format suggested when ``gguf`` is None, and why (a guess: the model is
    used as plain completion until the person picks it, since a base model has no format)."""
    bos_token: str = ""
    eos_token: str = ""

    @classmethod
    def of(cls, native: NativeModel) -> ModelTemplates:
        source = native.chat_template()
        unreadable = ""
        if source:
            bos = native.token_text(native.bos) if native.bos >= 0 else ""
            eos = native.token_text(native.eos) if native.eos >= 0 else ""
            try:
                return cls(JinjaTemplate(source, bos_token=bos, eos_token=eos), None, bos, eos)
            except TemplateError as exc:
                unreadable = str(exc)
        markers = {marker for marker in MARKER_TOKENS if native.has_single_token(marker)}
        choice = template_for(
            native.metadata("general.architecture") or "",
            model_name=native.metadata("general.name") or "",
            special_tokens=markers,
        )
        if unreadable:
            choice = TemplateChoice(choice.name, f"{unreadable}; {choice.reason}", False)
        bos = native.token_text(native.bos) if native.bos >= 0 else ""
        eos = native.token_text(native.eos) if native.eos >= 0 else ""
        return cls(None, choice, bos, eos)

    def resolve(self, name: str | None) -> ChatTemplate:
        """The template called ``name``; None means the file's own, else plain completion.

        A `CustomTemplate` is the person's own Jinja template (a per-model override), checked
        here: one that cannot be read raises `TemplateError`.
        """
        if name is None:
            return self.gguf if self.gguf is not None else builtin_template(COMPLETION)
        if isinstance(name, CustomTemplate):
            return JinjaTemplate(
                name.source,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                name=CUSTOM_TEMPLATE,
            )
        if name == GGUF_TEMPLATE:
            if self.gguf is None:
                raise TemplateError("this model file has no usable chat template of its own")
            return self.gguf
        return builtin_template(name)

    def names(self) -> list[str]:
        """Every name `resolve` accepts: "gguf" first when the file has a template."""
        names = list(BUILTIN_TEMPLATES)
        return [GGUF_TEMPLATE, *names] if self.gguf is not None else names
