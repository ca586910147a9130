"""The few llama.cpp calls the engine makes, over llama-cpp-python's ctypes bindings.

lmdesk drives llama.cpp through its C API rather than the high-level
``llama_cpp.Llama`` class: it needs the load progress callback (cancel), the
"auto" flash-attention setting, exact token counts and a stop check between
tokens, none of which ``Llama`` exposes. Everything native lives here, behind
methods with plain Python types; the handles are freed by `close()`.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Sequence
from typing import Any

import llama_cpp

from ..cpu_threads import ThreadCounts
from ..sampling import SamplingSettings
from . import llama_log
from .errors import GenerationError

_backend_lock = threading.Lock()
_backend_ready = False
_open_lock = threading.Lock()
_open_models = 0


def models_open() -> int:
    """The llama.cpp models this process holds now (made and not yet closed), in any engine:
    how the one-copy-in-memory rule is checked (a benchmark swaps the chat's model, it never
    loads a second one)."""
    return _open_models


def _count_open(change: int) -> None:
    global _open_models
    with _open_lock:
        _open_models += change


def ensure_backend() -> None:
    """Initialise llama.cpp once per process, with its log routed to `llama_log`."""
    global _backend_ready
    with _backend_lock:
        if _backend_ready:
            return
        llama_log.install()
        llama_cpp.llama_backend_init()
        _backend_ready = True


def supports_gpu_offload() -> bool:
    """Whether this llama.cpp build can put layers on a GPU (a CPU-only build cannot)."""
    return bool(llama_cpp.llama_supports_gpu_offload())


class NativeModel:
    """One loaded model with its context; tracks which tokens are in the KV cache."""

    def __init__(self, model: Any, ctx: Any) -> None:
        self.model = model
        self.ctx = ctx
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.memory = llama_cpp.llama_get_memory(ctx)
        self.n_ctx = int(llama_cpp.llama_n_ctx(ctx))
        self.n_batch = int(llama_cpp.llama_n_batch(ctx))
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self.eos = int(llama_cpp.llama_vocab_eos(self.vocab))
        self.adds_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.kv_tokens: list[int] = []
        """The tokens whose keys and values are in the cache, in order (sequence 0)."""
        self.params_memory: Any = None
        """ctypes memory the model's parameters point into; freed with the model."""
        _count_open(1)

    # --- facts about the model -------------------------------------------------

    def metadata(self, key: str) -> str | None:
        size = 256
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = int(llama_cpp.llama_model_meta_val_str(self.model, key.encode(), buffer, size))
            if n < 0:
                return None
            if n < size:
                return buffer.value.decode("utf-8", "replace")
            size = n + 1

    def chat_template(self) -> str | None:
        raw = llama_cpp.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8", "replace") if raw else None

    def description(self) -> str:
        buffer = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.model, buffer, 256)
        return buffer.value.decode("utf-8", "replace")

    def n_ctx_train(self) -> int:
        return int(llama_cpp.llama_model_n_ctx_train(self.model))

    def n_embd(self) -> int:
        return int(llama_cpp.llama_model_n_embd(self.model))

    def n_layer(self) -> int:
        return int(llama_cpp.llama_model_n_layer(self.model))

    def n_params(self) -> int:
        return int(llama_cpp.llama_model_n_params(self.model))

    def size_bytes(self) -> int:
        return int(llama_cpp.llama_model_size(self.model))

    def threads(self) -> ThreadCounts:
        """The thread counts the context really uses, as llama.cpp reports them."""
        return ThreadCounts(
            generation=int(llama_cpp.llama_n_threads(self.ctx)),
            batch=int(llama_cpp.llama_n_threads_batch(self.ctx)),
        )

    def set_threads(self, threads: ThreadCounts) -> None:
        llama_cpp.llama_set_n_threads(self.ctx, threads.generation, threads.batch)

    # --- tokens ----------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            tokens = (llama_cpp.llama_token * capacity)()
            n = int(
                llama_cpp.llama_tokenize(
                    self.vocab, data, len(data), tokens, capacity, add_special, parse_special
                )
            )
            if n >= 0:
                return list(tokens[:n])
            if -n <= capacity:  # pragma: no cover - llama.cpp says "too small" only when it is
                raise GenerationError("llama.cpp could not tokenize the text")
            capacity = -n

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (control tokens give b'')."""
        size = 64
        while True:
            buffer = ctypes.create_string_buffer(size)
            n = int(llama_cpp.llama_token_to_piece(self.vocab, token, buffer, size, 0, False))
            if n >= 0:
                return buffer.raw[:n]
            size = -n

    def token_text(self, token: int) -> str:
        raw = llama_cpp.llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    def has_single_token(self, text: str) -> bool:
        """Whether ``text`` is one token of the vocabulary (a chat format's control token)."""
        return len(self.tokenize(text, add_special=False, parse_special=True)) == 1

    # --- the KV cache ----------------------------------------------------------

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        """Keep the cached tokens shared with ``tokens``; return how many stay cached.

        At least the last prompt token is always evaluated again, since the
        next token's logits come from it.
        """
        common = 0
        limit = min(len(self.kv_tokens), len(tokens) - 1)
        while common < limit and self.kv_tokens[common] == tokens[common]:
            common += 1
        if common < len(self.kv_tokens):
            removed = bool(llama_cpp.llama_memory_seq_rm(self.memory, 0, common, -1))
            if not removed:  # recurrent models cannot cut their state: start over
                llama_cpp.llama_memory_clear(self.memory, True)
                common = 0
            del self.kv_tokens[common:]
        return common

    def clear(self) -> None:
        llama_cpp.llama_memory_clear(self.memory, True)
        self.kv_tokens.clear()

    def decode(
        self, tokens: Sequence[int], *, should_stop: Callable[[], bool] | None = None
    ) -> bool:
        """Evaluate ``tokens`` after the cached ones, a batch at a time.

        Returns False when ``should_stop`` said so between batches (what was
        evaluated stays cached). Raises GenerationError when llama.cpp fails.
        """
        for start in range(0, len(tokens), self.n_batch):
            if should_stop is not None and start > 0 and should_stop():
                return False
            chunk = list(tokens[start : start + self.n_batch])
            if len(self.kv_tokens) + len(chunk) > self.n_ctx:
                raise GenerationError(
                    f"the context is full ({self.n_ctx:,} tokens); this should have been caught "
                    "before evaluation"
                )
            array = (llama_cpp.llama_token * len(chunk))(*chunk)
            status = int(
                llama_cpp.llama_decode(self.ctx, llama_cpp.llama_batch_get_one(array, len(chunk)))
            )
            if status != 0:
                raise GenerationError(_decode_failure(status))
            self.kv_tokens.extend(chunk)
        return True

    # --- embeddings ------------------------------------------------------------

    def pooling(self) -> int:
        """llama.cpp's pooling type for this context (0: none, the model makes text only)."""
        return int(llama_cpp.llama_pooling_type(self.ctx))

    def embed(self, tokens: Sequence[int]) -> list[float]:
        """The pooled embedding of ``tokens`` (one sequence, one batch). The KV cache is
        cleared before and after: the next reply evaluates its prompt again."""
        if len(tokens) > self.n_batch:
            raise GenerationError(
                f"the text is {len(tokens):,} tokens long; one embedding takes at most "
                f"{self.n_batch:,} (the batch size)"
            )
        self.clear()
        llama_cpp.llama_set_embeddings(self.ctx, True)
        try:
            array = (llama_cpp.llama_token * len(tokens))(*tokens)
            batch = llama_cpp.llama_batch_get_one(array, len(tokens))
            encoder_only = bool(llama_cpp.llama_model_has_encoder(self.model)) and not bool(
                llama_cpp.llama_model_has_decoder(self.model)
            )
            run = llama_cpp.llama_encode if encoder_only else llama_cpp.llama_decode
            status = int(run(self.ctx, batch))
            if status != 0:
                raise GenerationError(_decode_failure(status))
            vector = llama_cpp.llama_get_embeddings_seq(self.ctx, 0)
            if not vector:
                raise GenerationError("llama.cpp returned no embedding for this text")
            n_embd = int(llama_cpp.llama_model_n_embd(self.model))
            return [float(x) for x in vector[:n_embd]]
        finally:
            llama_cpp.llama_set_embeddings(self.ctx, False)
            self.clear()

    def close(self) -> None:
        """Free the context, then the model (in that order: the context uses the model)."""
        if self.ctx is not None:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            llama_cpp.llama_model_free(self.model)
            self.model = None
            _count_open(-1)
        self.params_memory = None
        self.kv_tokens = []


def _decode_failure(status: int) -> str:
    if status == 1:
        return "llama.cpp found no room in the KV cache for these tokens (the context is full)"
    if status == 2:
        return "llama.cpp stopped evaluating the prompt"
    return f"llama.cpp failed to evaluate the tokens (error {status}); see the log for details"


class Sampler:
    """A llama.cpp sampler chain built from `SamplingSettings`."""

    def __init__(
        self, settings: SamplingSettings, *, n_vocab: int, seed: int, vocab: Any = None
    ) -> None:
        self._chain: Any = llama_cpp.llama_sampler_chain_init(
            llama_cpp.llama_sampler_chain_default_params()
        )
        add = self._add
        if settings.grammar is not None:
            # First: every later sampler only sees the tokens the grammar allows.
            grammar = llama_cpp.llama_sampler_init_grammar(
                vocab, settings.grammar.encode(), b"root"
            )
            if not grammar:
                self.close()
                raise GenerationError("llama.cpp could not parse the grammar for this reply")
            add(grammar)
        penalised = (
            settings.repeat_penalty != 1.0
            or settings.presence_penalty != 0.0
            or settings.frequency_penalty != 0.0
        )
        if penalised and settings.repeat_last_n > 0:
            add(
                llama_cpp.llama_sampler_init_penalties(
                    n_vocab,
                    settings.repeat_last_n,
                    settings.repeat_penalty,
                    settings.frequency_penalty,
                    settings.presence_penalty,
                )
            )
        if settings.greedy:
            add(llama_cpp.llama_sampler_init_greedy())
            return
        if settings.top_k > 0:
            add(llama_cpp.llama_sampler_init_top_k(settings.top_k))
        if settings.top_p < 1.0:
            add(llama_cpp.llama_sampler_init_top_p(settings.top_p, 1))
        if settings.min_p > 0.0:
            add(llama_cpp.llama_sampler_init_min_p(settings.min_p, 1))
        add(llama_cpp.llama_sampler_init_temp(settings.temperature))
        add(llama_cpp.llama_sampler_init_dist(seed))

    def _add(self, sampler: Any) -> None:
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def sample(self, native: NativeModel) -> int:
        """Pick the next token from the last evaluated position (and remember it for penalties)."""
        return int(llama_cpp.llama_sampler_sample(self._chain, native.ctx, -1))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
