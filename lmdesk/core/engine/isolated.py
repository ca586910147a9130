"""An `Engine` in a child process, for loads over `lmdesk worker`s.

llama.cpp's RPC client aborts its process when a worker goes away mid-reply (a failed
send or receive is `GGML_ABORT`, with no error path). Run in a child, that abort ends
only the child: the parent sees the pipe close and raises `GenerationError` naming the
worker that no longer answers, at once, and can load again without it.

The child runs a plain `Engine`; the pipe carries three requests, generically: call a
method by name, read a property, set a property. A method that returns a generator (a
reply) comes back as a generator. The callables a method takes cannot
cross a pipe: ``on_progress`` becomes progress messages the child waits for the answer to
(so returning False cancels exactly there, as in-process), and ``stop_flag`` becomes one
shared `multiprocessing.Event` the child's engine checks between tokens; a reply comes one
chunk per request, in step with its reader, and a stream closed early closes the child's.
Errors cross as their class's name, message and attributes (`_pack_error`), so the caller
gets the same typed `EngineError` (`ContextOverflow` with its numbers, `LoadCancelled`,
...) as in-process.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import inspect
import multiprocessing
import os
import pickle
import socket
import threading
from collections.abc import Callable, Generator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ..load_settings import LoadSettings
from ..sampling import SamplingSettings
from .chunks import ChatChunk
from .context import ContextPolicy
from .errors import EngineError, GenerationError
from .generate import StopFlag, as_predicate
from .reports import LoadReport, UnloadReport
from .template_guess import TemplateChoice
from .templates import Message, TemplateVariables

POLL_S = 0.05
"""How often the parent looks at the caller's Stop and at the child's life while waiting."""
_PROGRESS, _STOP = "<progress>", "<stop>"
"""Stand-ins, in a call's keyword arguments, for the two callables the engine takes."""

ErrorPayload = tuple[str, str, str, dict[str, Any]]
"""(module, class name, message, attributes) of an exception raised in the child."""


# --- the child -----------------------------------------------------------------------


def _pack_error(exc: BaseException) -> ErrorPayload:
    attrs: dict[str, Any] = {}
    for key, value in vars(exc).items():
        with contextlib.suppress(Exception):
            pickle.dumps(value)
            attrs[key] = value
    message = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
    return type(exc).__module__, type(exc).__qualname__, message, attrs


def _unpack_error(payload: ErrorPayload) -> Exception:
    """The child's exception, as the same class when it is lmdesk's or a builtin one."""
    module, name, message, attrs = payload
    cls: Any = None
    if module == "builtins":
        cls = getattr(builtins, name, None)
    elif module.startswith("lmdesk."):
        with contextlib.suppress(ImportError):
            cls = getattr(importlib.import_module(module), name, None)
    if isinstance(cls, type) and issubclass(cls, EngineError):
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        error.__dict__.update(attrs)
        if not hasattr(error, "log_excerpt"):
            error.log_excerpt = ""
        return error
    if isinstance(cls, type) and issubclass(cls, Exception) and module == "builtins":
        return cls(message)  # ValueError: an empty prompt, an unknown template name
    return EngineError(f"The model's process failed: {name}: {message}")


def _serve_stream(conn: Connection, items: Generator[Any, Any, Any]) -> None:
    """One item per "next" the parent sends (in step with its reader, as a generator is);
    "close" closes the generator, as the parent's caller closed its own."""
    try:
        while True:
            request = conn.recv()[0]
            if request != "next":
                conn.send(("end", None))
                return
            try:
                item = next(items)
            except StopIteration:
                conn.send(("end", None))
                return
            conn.send(("item", item))
    finally:
        items.close()


def _child(conn: Connection, stop: Any) -> None:
    # llama.cpp's abort would attach gdb to print a backtrace: seconds, and a page of noise
    # in the app's terminal, for what the parent reports in one sentence.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    from .engine import Engine

    engine = Engine()

    def progress(fraction: float) -> bool:  # the parent's callback answers, as in-process
        conn.send(("progress", fraction))
        return bool(conn.recv()[1]) and not stop.is_set()

    def real(value: Any) -> Any:
        return progress if value == _PROGRESS else stop.is_set if value == _STOP else value

    while True:
        try:
            request, name, args, kwargs = conn.recv()
        except (EOFError, OSError):
            engine.close()
            return
        try:
            if request == "get":
                conn.send(("ok", getattr(engine, name)))
            elif request == "set":
                setattr(engine, name, args[0])
                conn.send(("ok", None))
            elif request == "call":
                result = getattr(engine, name)(*args, **{k: real(v) for k, v in kwargs.items()})
                if inspect.isgenerator(result):
                    conn.send(("stream", None))
                    _serve_stream(conn, result)
                else:
                    conn.send(("ok", result))
            elif request == "close":
                engine.close()
                conn.send(("ok", None))
                return
        except Exception as exc:  # every failure goes to the caller, typed
            conn.send(("error", _pack_error(exc)))


# --- the parent ----------------------------------------------------------------------


def _answers(endpoint: str, timeout_s: float = 1.0) -> bool:
    """Whether something still accepts connections at the worker's host:port."""
    from ..rpc_worker import parse_endpoint

    host, port = parse_endpoint(endpoint)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


class IsolatedEngine:
    """`Engine`'s interface, served by an `Engine` in a child process (one per instance)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._stop = context.Event()
        self._process = context.Process(
            target=_child, args=(child_conn, self._stop), daemon=True, name="lmdesk-engine"
        )
        self._process.start()
        child_conn.close()
        self._workers: tuple[str, ...] = ()
        self._open_stream = False
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    # --- the protocol ------------------------------------------------------------------

    def _gone(self) -> GenerationError:
        self._process.join(5)
        status = self._process.exitcode
        gone = [w for w in self._workers if not _answers(w)]
        if gone:
            which = ", ".join(gone)
            return GenerationError(
                f"The worker {which} went away, and the model split over it ended with it. "
                "Load the model again without that worker."
            )
        shown = ", ".join(self._workers) or "none"
        return GenerationError(
            f"The model's process ended (status {status}): a worker it was split over went "
            f"away or failed (workers: {shown}). Load it again without that worker."
        )

    def _receive(
        self,
        *,
        on_progress: Callable[[float], bool | None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[str, Any]:
        while True:
            while not self._conn.poll(POLL_S):
                if should_stop is not None and should_stop():
                    self._stop.set()
                if not self._process.is_alive() and not self._conn.poll(0):
                    break
            try:
                kind, value = self._conn.recv()
            except (EOFError, OSError):
                raise self._gone() from None
            if kind == "progress":
                keep_going = on_progress is None or on_progress(value) is not False
                self._post(("answer", keep_going, (), {}))
                continue
            if kind == "error":
                raise _unpack_error(value)
            return kind, value

    def _send(self, request: str, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        if self._open_stream:  # a reply nobody read to its end (the caller dropped it)
            self._finish_stream()
        self._stop.clear()
        try:
            self._conn.send((request, name, tuple(args), kwargs))
        except (BrokenPipeError, OSError):
            raise GenerationError("The model's process has ended; load the model again.") from None

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """``engine.name(*args, **kwargs)`` in the child. ``on_progress`` and ``stop_flag``
        keep their meaning; a generator comes back as a generator here."""
        on_progress = kwargs.pop("on_progress", None)
        stop_flag: StopFlag | None = kwargs.pop("stop_flag", None)
        if on_progress is not None:
            kwargs["on_progress"] = _PROGRESS
        if stop_flag is not None:
            kwargs["stop_flag"] = _STOP
        should_stop = as_predicate(stop_flag) if stop_flag is not None else None
        with self._lock:
            self._send("call", name, args, kwargs)
            kind, value = self._receive(on_progress=on_progress, should_stop=should_stop)
            if kind != "stream":
                return value
            self._open_stream = True
        return self._stream(should_stop)

    def _stream(self, should_stop: Callable[[], bool] | None) -> Generator[Any, None, None]:
        try:
            while True:
                if should_stop is not None and should_stop():
                    self._stop.set()  # the child's engine sees it before its next token
                self._post(("next", "", (), {}))
                kind, value = self._receive(should_stop=should_stop)
                if kind == "end":
                    self._open_stream = False
                    return
                yield value
        except EngineError:
            self._open_stream = False
            raise
        finally:
            if self._open_stream:  # closed early: stop the child's reply, read to its end
                self._finish_stream()

    def _finish_stream(self) -> None:
        self._open_stream = False
        with contextlib.suppress(EngineError):
            self._post(("close", "", (), {}))
            while self._receive()[0] != "end":
                pass

    def _post(self, message: tuple[str, Any, tuple[Any, ...], dict[str, Any]]) -> None:
        try:
            self._conn.send(message)
        except (BrokenPipeError, OSError):
            raise self._gone() from None

    def get(self, name: str) -> Any:
        """A property of the child's engine."""
        with self._lock:
            self._send("get", name, (), {})
            return self._receive()[1]

    def set(self, name: str, value: Any) -> None:
        """Set a property of the child's engine."""
        with self._lock:
            self._send("set", name, (value,), {})
            self._receive()

    # --- Engine's interface -------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self.alive and bool(self.get("loaded"))

    @property
    def report(self) -> LoadReport | None:
        if not self.alive:
            return None
        report: LoadReport | None = self.get("report")
        return report

    @property
    def n_ctx(self) -> int:
        return int(self.get("n_ctx"))

    def load(
        self,
        path: str | Path,
        settings: LoadSettings | None = None,
        *,
        on_progress: Callable[[float], bool | None] | None = None,
        chat_template: str | None = None,
    ) -> LoadReport:
        self._workers = settings.rpc if settings is not None else ()
        report: LoadReport = self.call(
            "load", Path(path), settings, on_progress=on_progress, chat_template=chat_template
        )
        return report

    def unload(self) -> UnloadReport:
        report: UnloadReport = self.call("unload")
        return report

    @property
    def has_builtin_template(self) -> bool:
        return bool(self.get("has_builtin_template"))

    @property
    def template_choice(self) -> TemplateChoice | None:
        choice: TemplateChoice | None = self.get("template_choice")
        return choice

    def available_templates(self) -> list[str]:
        return list(self.call("available_templates"))

    @property
    def chat_template(self) -> str:
        return str(self.get("chat_template"))

    @chat_template.setter
    def chat_template(self, name: str) -> None:
        self.set("chat_template", name)

    def count_tokens(self, text: str) -> int:
        return int(self.call("count_tokens", text))

    def count_message_tokens(
        self, messages: Sequence[Message], variables: TemplateVariables | None = None
    ) -> int:
        return int(self.call("count_message_tokens", list(messages), variables))

    def render_prompt(
        self,
        messages: Sequence[Message],
        *,
        continue_last: bool = False,
        variables: TemplateVariables | None = None,
    ) -> str:
        return str(
            self.call(
                "render_prompt", list(messages), continue_last=continue_last, variables=variables
            )
        )

    def chat(
        self,
        messages: Sequence[Message],
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        context_policy: ContextPolicy = "truncate_oldest",
        continue_last: bool = False,
    ) -> Generator[ChatChunk, None, None]:
        chunks: Generator[ChatChunk, None, None] = self.call(
            "chat",
            list(messages),
            sampling,
            stop_flag=stop_flag,
            context_policy=context_policy,
            continue_last=continue_last,
        )
        return chunks

    def complete(
        self,
        prompt: str,
        sampling: SamplingSettings | None = None,
        *,
        stop_flag: StopFlag | None = None,
        add_bos: bool = True,
        parse_special: bool = True,
    ) -> Generator[ChatChunk, None, None]:
        chunks: Generator[ChatChunk, None, None] = self.call(
            "complete",
            prompt,
            sampling,
            stop_flag=stop_flag,
            add_bos=add_bos,
            parse_special=parse_special,
        )
        return chunks

    @property
    def sees_images(self) -> bool:
        return bool(self.get("sees_images"))

    @property
    def can_embed(self) -> bool:
        return bool(self.get("can_embed"))

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        vectors, used = self.call("embed", list(texts))
        return vectors, int(used)

    def reset_cache(self) -> None:
        self.call("reset_cache")

    def close(self) -> None:
        """Unload and end the child (it is killed if it does not end in 5 s)."""
        if self._process.is_alive():
            with contextlib.suppress(EngineError):
                self._send("close", "", (), {})
                self._receive()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._conn.close()
