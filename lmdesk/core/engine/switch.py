"""`EngineSwitch`: the engine a scheduler owns, whatever runs the model it loads.

A file is loaded by the local `Engine` (llama.cpp in this process), or, when its settings
place layers on `lmdesk worker`s, by an `IsolatedEngine` (an `Engine` in a child process:
llama.cpp's RPC client aborts its process when a worker dies mid-reply, so only the child
ends). A `RemoteModel` is loaded by a `RemoteEngine` (an OpenAI-compatible server). The
switch picks the backend at load time, unloads the others (a child process ends with its
model), and hands every later call to the one that holds the model. Delegation is
explicit, one method each, so the interface the jobs use stays visible and typed.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path

from ..load_settings import LoadSettings
from ..remote_engines.engine import RemoteEngine
from ..remote_engines.server import RemoteModel
from ..sampling import SamplingSettings
from .chunks import ChatChunk
from .context import ContextPolicy
from .engine import Engine
from .generate import StopFlag
from .isolated import IsolatedEngine
from .loader import ProgressCallback
from .reports import LoadReport, UnloadReport
from .template_guess import TemplateChoice
from .templates import Message, TemplateVariables

Backend = Engine | IsolatedEngine | RemoteEngine


class EngineSwitch:
    """`Engine`'s interface over the backend that holds the loaded model."""

    def __init__(self, local: Engine | None = None, remote: RemoteEngine | None = None) -> None:
        self.local = local or Engine()
        self.remote = remote or RemoteEngine()
        self.isolated: IsolatedEngine | None = None
        """The child process of a load over workers (None when there is none)."""
        self._current: Backend = self.local

    @property
    def backend(self) -> Backend:
        """The backend in use: the local engine until something else is loaded."""
        return self._current

    @property
    def lost(self) -> bool:
        """The model's child process ended under it (a worker it was split over died):
        nothing is loaded any more, and the next load starts a fresh child."""
        child = self.isolated
        return child is not None and self._current is child and not child.alive

    # --- loading -------------------------------------------------------------------------
    def load(
        self,
        path: str | Path | RemoteModel,
        settings: LoadSettings | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        chat_template: str | None = None,
    ) -> LoadReport:
        """Load a remote server's model, a file over workers (in a child process) or a file
        here; the other backends are unloaded."""
        if isinstance(path, RemoteModel):
            self._keep_only(self.remote)
            return self.remote.load(path, settings, on_progress=on_progress)
        settings = settings or LoadSettings()
        if settings.rpc:
            if self.isolated is None or not self.isolated.alive:
                self._end_child()
                self.isolated = IsolatedEngine()
            self._keep_only(self.isolated)
            return self.isolated.load(
                path, settings, on_progress=on_progress, chat_template=chat_template
            )
        self._keep_only(self.local)
        return self.local.load(path, settings, on_progress=on_progress, chat_template=chat_template)

    def _keep_only(self, backend: Backend) -> None:
        """Make ``backend`` the current one; free what the others hold."""
        if backend is not self.remote and self.remote.loaded:
            self.remote.unload()
        if backend is not self.local and self.local.loaded:
            self.local.unload()
        if backend is not self.isolated:
            self._end_child()
        self._current = backend

    def _end_child(self) -> None:
        if self.isolated is not None:
            self.isolated.close()
            self.isolated = None

    @property
    def loaded(self) -> bool:
        return self._current.loaded

    @property
    def report(self) -> LoadReport | None:
        return self._current.report

    @property
    def n_ctx(self) -> int:
        return self._current.n_ctx

    def unload(self) -> UnloadReport:
        """Free the model; a child process ends with it (its memory goes back at once)."""
        report = self._current.unload()
        if self._current is self.isolated:
            self._end_child()
            self._current = self.local
        return report

    def close(self) -> None:
        self.remote.close()
        self.local.close()
        self._end_child()

    # --- templates -----------------------------------------------------------------------
    @property
    def has_builtin_template(self) -> bool:
        return self._current.has_builtin_template

    @property
    def template_choice(self) -> TemplateChoice | None:
        return self._current.template_choice

    def available_templates(self) -> list[str]:
        return self._current.available_templates()

    @property
    def chat_template(self) -> str:
        return self._current.chat_template

    @chat_template.setter
    def chat_template(self, name: str) -> None:
        self._current.chat_template = name

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
        variables: TemplateVariables | None = None,
    ) -> str:
        return self._current.render_prompt(
            messages, continue_last=continue_last, variables=variables
        )

    # --- tokens ----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        return self._current.count_tokens(text)

    def count_message_tokens(
        self, messages: Sequence[Message], variables: TemplateVariables | None = None
    ) -> int:
        return self._current.count_message_tokens(messages, variables)

    # --- generation --------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        context_policy: ContextPolicy = "truncate_oldest",
        continue_last: bool = False,
    ) -> Generator[ChatChunk, None, None]:
        return self._current.chat(
            messages,
            sampling,
            stop_flag=stop_flag,
            context_policy=context_policy,
            continue_last=continue_last,
        )

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        add_bos: bool = True,
        parse_special: bool = True,
    ) -> Generator[ChatChunk, None, None]:
        return self._current.complete(
            prompt, sampling, stop_flag=stop_flag, add_bos=add_bos, parse_special=parse_special
        )

    @property
    def sees_images(self) -> bool:
        return self._current.sees_images

    @property
    def can_embed(self) -> bool:
        return self._current.can_embed

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        return self._current.embed(texts)

    def reset_cache(self) -> None:
        self._current.reset_cache()
