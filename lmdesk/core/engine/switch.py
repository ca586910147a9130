"""`EngineSwitch`: `Engine`'s interface over the backend that suits what is loaded.

The chat's inference worker and every model the server pool loads own one switch. Each
load chooses the backend: this process's `Engine` normally, an `IsolatedEngine` (an
`Engine` in a child process) when the settings place layers on `lmdesk worker`s, because
llama.cpp's RPC client aborts its process when a worker dies mid-reply. The previous
backend is closed when the kind changes, and a child that died is replaced. Everything
else is delegated, explicitly and typed, to the current backend.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from ..load_settings import LoadSettings
from ..sampling import SamplingSettings
from .chunks import ChatChunk
from .context import ContextPolicy
from .engine import Engine
from .generate import StopFlag
from .isolated import IsolatedEngine
from .reports import LoadReport, UnloadReport
from .template_guess import TemplateChoice
from .templates import Message, TemplateVariables

Backend = Engine | IsolatedEngine


def backend_kind(settings: LoadSettings) -> type[Backend]:
    """The backend a load with ``settings`` needs: a child process when it uses workers."""
    return IsolatedEngine if settings.rpc else Engine


class EngineSwitch:
    """One model at a time, in this process or in a child; the interface of `Engine`."""

    def __init__(self) -> None:
        self._backend: Backend = Engine()

    @property
    def backend(self) -> Backend:
        """The engine that serves the current model (an `Engine` when nothing is loaded)."""
        return self._backend

    def _backend_for(self, settings: LoadSettings) -> Backend:
        kind = backend_kind(settings)
        current = self._backend
        if type(current) is not kind or self.lost:
            current.close()
            self._backend = kind()
        return self._backend

    @property
    def lost(self) -> bool:
        """The backend's process ended under its model (a worker it was split over died):
        nothing is loaded any more, and the next load starts a fresh one."""
        backend = self._backend
        return isinstance(backend, IsolatedEngine) and not backend.alive

    # --- loading -----------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._backend.loaded

    @property
    def report(self) -> LoadReport | None:
        return self._backend.report

    @property
    def n_ctx(self) -> int:
        return self._backend.n_ctx

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        *,
        on_progress: Callable[[float], bool | None] | None = None,
        chat_template: str | None = None,
    ) -> LoadReport:
        settings = settings or LoadSettings()
        backend = self._backend_for(settings)
        return backend.load(
            path,
            settings,
            on_progress=on_progress,  # type: ignore[arg-type]  # Engine's: Callable[[float], bool]
            chat_template=chat_template,
        )

    def unload(self) -> UnloadReport:
        """Free the model; a child process ends with it (its memory goes back at once)."""
        report = self._backend.unload()
        if isinstance(self._backend, IsolatedEngine):
            self._backend.close()
            self._backend = Engine()
        return report

    def close(self) -> None:
        self._backend.close()

    # --- chat templates ------------------------------------------------------------------

    @property
    def has_builtin_template(self) -> bool:
        return self._backend.has_builtin_template

    @property
    def template_choice(self) -> TemplateChoice | None:
        return self._backend.template_choice

    def available_templates(self) -> list[str]:
        return self._backend.available_templates()

    @property
    def chat_template(self) -> str:
        return self._backend.chat_template

    @chat_template.setter
    def chat_template(self, name: str) -> None:
        self._backend.chat_template = name

    # --- tokens and context --------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return self._backend.count_tokens(text)

    def count_message_tokens(
        self, messages: Sequence[Message], variables: TemplateVariables | None = None
    ) -> int:
        return self._backend.count_message_tokens(messages, variables)

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
        variables: TemplateVariables | None = None,
    ) -> str:
        return self._backend.render_prompt(
            messages, continue_last=continue_last, variables=variables
        )

    # --- generation ----------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        context_policy: ContextPolicy = "truncate_oldest",
        continue_last: bool = False,
    ) -> Generator[ChatChunk, None, None]:
        return self._backend.chat(
            messages,
            sampling,
            stop_flag=stop_flag,
            context_policy=context_policy,
            continue_last=continue_last,
        )

    @property
    def sees_images(self) -> bool:
        return self._backend.sees_images

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        add_bos: bool = True,
        parse_special: bool = True,
    ) -> Generator[ChatChunk, None, None]:
        return self._backend.complete(
            prompt, sampling, stop_flag=stop_flag, add_bos=add_bos, parse_special=parse_special
        )

    # --- embeddings ----------------------------------------------------------------------

    @property
    def can_embed(self) -> bool:
        return self._backend.can_embed

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        return self._backend.embed(texts)

    def reset_cache(self) -> None:
        self._backend.reset_cache()
