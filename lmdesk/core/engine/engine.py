"""The engine: one llama.cpp model, loaded, chatted with, and unloaded. No Qt.

The UI's inference worker (a QObject on its own QThread) owns one `Engine`
and is the only caller; only the stop flag is touched from other threads.
Every failure is an `EngineError` whose text can be shown as is.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Generator, Sequence
from pathlib import Path

from .. import cpu_threads
from ..gguf import GGUFError, describe, read_header
from ..gguf.errors import MissingKeyError
from ..load_settings import LoadSettings
from ..reasoning import opened_in_prompt, reply_so_far, thinking_switches
from ..sampling import MODEL_CARD_KEYS, SamplingSettings, model_card_sampling
from . import host, loader
from .chunks import ChatChunk
from .context import ContextPolicy, fit_conversation, reply_budget
from .errors import (
    CannotEmbed,
    ContextOverflow,
    EngineBusy,
    GenerationError,
    ModelFileError,
    NoModelLoaded,
)
from .generate import StopFlag, as_predicate, generate
from .loader import ProgressCallback
from .model_templates import ModelTemplates
from .native import NativeModel
from .reports import LoadReport, UnloadReport
from .template_guess import TemplateChoice
from .templates import (
    BUILTIN_TEMPLATES,
    COMPLETION,
    ChatTemplate,
    Message,
    TemplateVariables,
)
from .vision import MARKER, Projector, find_projector

_log = logging.getLogger(__name__)

POOLING_NONE, POOLING_RANK = 0, 4
"""llama.cpp's pooling types that give no embedding (a text model; a reranker's score)."""


def check_header(path: Path) -> None:
    """Refuse, as a `ModelFileError`, a header llama.cpp would abort the process on.

    llama.cpp ``GGML_ASSERT``s on some headers (0 or more than 512 layers, a NaN
    norm epsilon): a SIGABRT that would take the whole app down. The GGUF reader's
    checks (`describe`) are the gate: nothing it refuses reaches llama.cpp.
    """
    loader.check_file(path)
    try:
        header = read_header(path)
    except GGUFError:
        return  # a file llama.cpp cannot parse either: its own log says why (load_failures)
    try:
        describe(header)
    except MissingKeyError:
        return  # llama.cpp refuses it by itself, and names an unknown architecture better
    except GGUFError as exc:
        raise ModelFileError(f"{path.name} cannot be loaded: {exc}.") from exc


class Engine:
    """One model at a time; one reply at a time."""

    def __init__(self) -> None:
        self._native: NativeModel | None = None
        self._report: LoadReport | None = None
        self._templates: ModelTemplates | None = None
        self._template: ChatTemplate = BUILTIN_TEMPLATES["chatml"]
        self._projector: Projector | None = None
        self._busy = False
        self._load = cpu_threads.LoadSampler()
        """How busy other processes keep the CPU between replies (Auto's threads)."""

    # --- loading -----------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._native is not None

    @property
    def report(self) -> LoadReport | None:
        """The report of the current model's load (None when nothing is loaded)."""
        return self._report

    @property
    def n_ctx(self) -> int:
        return self._require().n_ctx

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        chat_template: str | None = None,
    ) -> LoadReport:
        """Load a GGUF model (replacing the current one) and report what it took.

        ``on_progress`` gets 0.0..1.0 as the weights load; returning False
        cancels (`LoadCancelled`). ``chat_template`` overrides the format: a
        built-in name, "gguf", "completion" or a custom template's name; None picks the
        file's own template, else plain completion (the guess of `template_for` is offered).
        """
        self._ensure_idle()
        settings = settings or LoadSettings()
        path = Path(path)
        if self._native is not None:
            self.unload()
        check_header(path)
        rss_before = host.process_rss()
        result = loader.load_native(path, settings, on_progress=on_progress)
        native = result.native
        projector: Projector | None = None
        try:
            templates = ModelTemplates.of(native)
            template = templates.resolve(chat_template)
            threads = settings.n_threads or cpu_threads.threads_for(None).generation
            on_gpu = settings.n_gpu_layers != 0  # as llama-server: with the model's layers
            if settings.mmproj:  # the person's choice: refused loudly when it does not fit
                try:
                    projector = Projector.open(
                        settings.mmproj, native, n_threads=threads, use_gpu=on_gpu
                    )
                except ModelFileError as exc:
                    # The load rule's pairing (the one beside it) is a guess, as below.
                    if Path(settings.mmproj) != find_projector(path, native.n_embd()):
                        raise
                    _log.warning("the projector beside the model was not loaded: %s", exc)
            elif (beside := find_projector(path, native.n_embd())) is not None:
                try:
                    projector = Projector.open(beside, native, n_threads=threads, use_gpu=on_gpu)
                except ModelFileError as exc:  # a guess: the model still loads, without it
                    _log.warning("the projector beside the model was not loaded: %s", exc)
        except BaseException:
            native.close()
            host.release_freed_memory()
            raise
        self._native, self._templates, self._template = native, templates, template
        self._projector = projector
        self._report = LoadReport(
            path=path,
            settings=settings,
            load_s=result.load_s,
            rss_before=rss_before,
            rss_after=host.process_rss(),
            description=native.description(),
            architecture=native.metadata("general.architecture") or "",
            name=native.metadata("general.name") or "",
            n_ctx=native.n_ctx,
            n_ctx_train=native.n_ctx_train(),
            n_layer=native.n_layer(),
            n_params=native.n_params(),
            size_bytes=native.size_bytes(),
            has_builtin_template=templates.gguf is not None,
            chat_template=template.name,
            template_choice=templates.choice,
            allocations=tuple(result.log.matching("buffer size")),
            threads=native.threads(),
            template_source=templates.gguf.source if templates.gguf is not None else "",
            bos_token=templates.bos_token,
            eos_token=templates.eos_token,
            thinking=thinking_switches(templates.gguf.source if templates.gguf else None),
            projector=str(projector.path) if projector is not None else "",
            model_sampling=model_card_sampling(
                {key: value for key in MODEL_CARD_KEYS if (value := native.metadata(key))}
            ),
        )
        return self._report

    def unload(self) -> UnloadReport:
        """Free the model and its context; report this process's memory before and after."""
        self._ensure_idle()
        rss_before = host.process_rss()
        if self._projector is not None:
            self._projector.close()
            self._projector = None
        if self._native is not None:
            self._native.close()
            self._native = None
        self._report = None
        self._templates = None
        host.release_freed_memory()
        return UnloadReport(rss_before, host.process_rss())

    def close(self) -> None:
        """Unload, if loaded (shutdown)."""
        if self._native is not None and not self._busy:
            self.unload()

    # --- chat templates ----------------------------------------------------------

    @property
    def has_builtin_template(self) -> bool:
        """Whether the model file carries a chat template (that lmdesk can read)."""
        return self._model_templates().gguf is not None

    @property
    def template_choice(self) -> TemplateChoice | None:
        """The guess made for a file without a template; None when the file has one."""
        return self._model_templates().choice

    def available_templates(self) -> list[str]:
        """Names `chat_template` accepts: "gguf" first when the file has one."""
        return self._model_templates().names()

    @property
    def chat_template(self) -> str:
        """The template in use: "gguf", a built-in's name, or "completion"."""
        return self._template.name

    @chat_template.setter
    def chat_template(self, name: str) -> None:
        self._template = self._model_templates().resolve(name)

    def _model_templates(self) -> ModelTemplates:
        self._require()
        assert self._templates is not None
        return self._templates

    # --- tokens and context ------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes (special tokens parsed, no BOS added)."""
        return len(self._require().tokenize(text, add_special=False))

    def count_message_tokens(
        self, messages: Sequence[Message], variables: TemplateVariables | None = None
    ) -> int:
        """Tokens of the prompt these messages make, generation prompt and BOS included."""
        return len(self._prompt_tokens(messages, continue_last=False, variables=variables))

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
        variables: TemplateVariables | None = None,
    ) -> str:
        """The prompt text the current template makes of ``messages`` (for "show prompt")."""
        self._require()
        return self._prompt_text(messages, continue_last, variables)

    def _prompt_text(
        self,
        messages: Sequence[Message],
        continue_last: bool,
        variables: TemplateVariables | None = None,
    ) -> str:
        render = self._template.render
        if continue_last:
            if not messages or messages[-1]["role"] != "assistant":
                raise ValueError("continue_last needs an assistant message at the end")
            head = render(messages[:-1], add_generation_prompt=True, variables=variables)
            last = messages[-1]
            content, reasoning = last.get("content"), last.get("reasoning_content")
            return head + reply_so_far(head, str(content or ""), str(reasoning or ""))
        return render(messages, add_generation_prompt=True, variables=variables)

    def _prompt_tokens(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool,
        variables: TemplateVariables | None = None,
    ) -> list[int]:
        text = self._prompt_text(messages, continue_last, variables)
        parse_special = self._template.name != COMPLETION
        return self._tokenize_prompt(text, add_bos=True, parse_special=parse_special)

    def _tokenize_prompt(self, text: str, *, add_bos: bool, parse_special: bool) -> list[int]:
        native = self._require()
        tokens = native.tokenize(text, add_special=add_bos, parse_special=parse_special)
        # A template that writes BOS itself plus a tokenizer that adds one: keep one.
        if len(tokens) >= 2 and tokens[0] == tokens[1] == native.bos:
            del tokens[0]
        if not tokens:
            raise ValueError("the prompt is empty")
        return tokens

    # --- generation --------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        context_policy: ContextPolicy = "truncate_oldest",
        continue_last: bool = False,
    ) -> Generator[ChatChunk, None, None]:
        """Stream the assistant's reply to ``messages``: `TextChunk`s, then one `ReplyStats`.

        With ``continue_last`` the last message (the assistant's) is extended
        instead of answered ("Continue"). Checks that need no generation
        (context fit, template) raise here, before the first chunk. The sampling's thinking
        switches go to the template; a ``<think>`` the template's generation prompt opened
        starts the reply's text (`core.reasoning.opened_in_prompt`).
        """
        native = self._require()
        self._ensure_idle()
        sampling = sampling or SamplingSettings()
        variables = sampling.template_variables()
        messages, images = self._with_image_markers(messages)

        def count(kept: Sequence[Message]) -> int:
            return len(self._prompt_tokens(kept, continue_last=continue_last, variables=variables))

        fitted = fit_conversation(
            messages,
            count_tokens=count,
            n_ctx=native.n_ctx,
            reply_room=reply_budget(sampling.max_tokens, native.n_ctx),
            policy=context_policy,
        )
        text = self._prompt_text(fitted.messages, continue_last, variables)
        prompt = self._tokenize_prompt(
            text, add_bos=True, parse_special=self._template.name != COMPLETION
        )
        plain = self._template.name == COMPLETION
        prefill = None
        if images:
            projector = self._projector
            assert projector is not None
            stop = as_predicate(stop_flag)

            def prefill() -> int:
                return projector.prefill(native, text, images, should_stop=stop)

        return self._run(
            prompt,
            sampling,
            stop_flag,
            stop_strings=self._template.stop_strings,
            strip_leading=not (continue_last or plain),
            dropped=fitted.dropped,
            prefix="" if continue_last or plain else opened_in_prompt(text),
            prefill=prefill,
        )

    @property
    def sees_images(self) -> bool:
        """Whether a vision projector is loaded beside the model."""
        return self._projector is not None

    def _with_image_markers(self, messages: Sequence[Message]) -> tuple[list[Message], list[bytes]]:
        """Messages with an ``"images"`` entry (file paths, one a line) get one image marker
        per picture before their text; the pictures' bytes, in order."""
        out: list[Message] = []
        images: list[bytes] = []
        for message in messages:
            paths = [p for p in str(message.get("images") or "").splitlines() if p.strip()]
            if not paths:
                out.append(message)
                continue
            if self._projector is None:
                raise GenerationError(
                    "This model cannot see images: load it with its vision projector (mmproj)."
                )
            for path in paths:
                try:
                    images.append(Path(path).read_bytes())
                except OSError as exc:
                    raise GenerationError(f"The image {path} could not be read: {exc}") from exc
            markers = "".join(f"{MARKER}\n" for _ in paths)
            text = {k: v for k, v in message.items() if k != "images"}
            out.append({**text, "content": markers + str(message.get("content") or "")})
        return out, images

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        add_bos: bool = True,
        parse_special: bool = True,
    ) -> Generator[ChatChunk, None, None]:
        """Stream a plain continuation of ``prompt`` (no chat template)."""
        native = self._require()
        self._ensure_idle()
        sampling = sampling or SamplingSettings()
        tokens = self._tokenize_prompt(prompt, add_bos=add_bos, parse_special=parse_special)
        if len(tokens) >= native.n_ctx:
            raise ContextOverflow(
                f"The prompt is {len(tokens):,} tokens long, and the context holds "
                f"{native.n_ctx:,}: there is no room for a reply. Shorten it, or load the "
                "model with a larger context.",
                needed=len(tokens) + 1,
                available=native.n_ctx,
            )
        return self._run(tokens, sampling, stop_flag, stop_strings=(), strip_leading=False)

    def _run(
        self,
        prompt: list[int],
        sampling: SamplingSettings,
        stop_flag: StopFlag | None,
        *,
        stop_strings: Sequence[str],
        strip_leading: bool,
        dropped: int = 0,
        prefix: str = "",
        prefill: Callable[[], int] | None = None,
    ) -> Generator[ChatChunk, None, None]:
        native = self._require()
        self._ensure_idle()  # another reply started between chat() and this first step
        if self._report is not None and self._report.settings.n_threads is None:
            native.set_threads(cpu_threads.threads_now(self._load))  # Auto: leave others theirs
        seed = self._pick_seed(sampling)
        self._busy = True
        try:
            yield from generate(
                native,
                prompt,
                sampling,
                seed=seed,
                should_stop=as_predicate(stop_flag),
                stop_strings=stop_strings,
                strip_leading=strip_leading,
                dropped_messages=dropped,
                prefix=prefix,
                prefill=prefill,
            )
        finally:
            self._busy = False
            self._load.restart()  # the next reply reads the load from here on

    def _pick_seed(self, sampling: SamplingSettings) -> int:
        if sampling.seed is not None:
            return sampling.seed
        if self._report is not None and self._report.settings.seed is not None:
            return self._report.settings.seed
        return random.randrange(0, 0xFFFFFFFF)  # 0xFFFFFFFF would mean "random" to llama.cpp

    # --- embeddings --------------------------------------------------------------

    @property
    def can_embed(self) -> bool:
        """Whether the model pools its states into an embedding (an embedding model)."""
        return self._require().pooling() not in (POOLING_NONE, POOLING_RANK)

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """One L2-normalised vector per text, and the tokens they took.

        `CannotEmbed` for a model that makes text, not embeddings.
        """
        native = self._require()
        self._ensure_idle()
        if not self.can_embed:
            name = self._report.path.name if self._report else "This model"
            raise CannotEmbed(
                f"{name} is a text-generation model: it cannot make embeddings. Load an "
                "embedding model (one whose GGUF has a pooling type, such as nomic-embed-text "
                "or bge) and ask it instead."
            )
        vectors, used = [], 0
        for text in texts:
            tokens = native.tokenize(text, add_special=True, parse_special=False)
            if not tokens:
                raise ValueError("an input to embed is empty")
            used += len(tokens)
            vector = native.embed(tokens)
            norm = math.sqrt(sum(x * x for x in vector)) or 1.0
            vectors.append([x / norm for x in vector])
        return vectors, used

    def reset_cache(self) -> None:
        """Forget the cached prompt (the next reply evaluates its prompt from scratch)."""
        self._ensure_idle()
        self._require().clear()

    # --- guards ------------------------------------------------------------------

    def native_model(self) -> NativeModel:
        """The loaded model's llama.cpp handles, for work that drives llama.cpp directly
        (the benchmark, `core.speed.bench_job`): only on the engine's own thread."""
        return self._require()

    def _require(self) -> NativeModel:
        if self._native is None:
            raise NoModelLoaded("No model is loaded. Load a model first.")
        return self._native

    def _ensure_idle(self) -> None:
        if self._busy:
            raise EngineBusy("A reply is still being generated. Stop it first, or wait.")
