"""Jinja's immutable sandbox with a time limit, for chat templates nobody has checked.

A chat template is code from a downloaded file (or typed by the person). Jinja's sandbox
already refuses unsafe attributes and ranges over 100,000 items; it does not stop a template
that loops for hours (nested ranges) or builds gigabytes of text (``"x" * 10**10``). Every
attribute, item, call, ``range`` step and output piece checks the deadline here, and
repeated text is capped, so a bad template ends in a `TemplateError` within the time limit
instead of hanging the inference thread or the preview.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
from jinja2.utils import Namespace

from .errors import TemplateError

TIME_LIMIT_S = 2.0
"""Far above any real template (a few milliseconds), far below "the app hangs"."""
MAX_TEXT = 4_000_000
"""The longest text a template may build with ``*`` (characters or items)."""
_CHECK_EVERY = 256


class TimedSandbox(ImmutableSandboxedEnvironment):
    """`ImmutableSandboxedEnvironment` whose renders stop at a deadline (per thread)."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._local = threading.local()
        self.globals["range"] = self._range
        self.globals["dict"] = _TemplateDict()
        self.globals["namespace"] = _GuardedNamespace

    @contextmanager
    def time_limit(self, seconds: float) -> Iterator[None]:
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = time.monotonic() + seconds
        self._local.limit = seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def check_time(self) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise TemplateError(
                f"the chat template ran for over {self._local.limit:g} s and was stopped "
                "(it loops, or builds far too much text)"
            )

    def _range(self, *args: int) -> Iterator[int]:
        for i, value in enumerate(safe_range(*args)):
            if i % _CHECK_EVERY == 0:
                self.check_time()
            yield value

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.check_time()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 1000:
                raise TemplateError("the chat template raises a number to a huge power")
            return left**right
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and len(seq) * times > MAX_TEXT:
                raise TemplateError("the chat template builds far too much text")
        return left * right


class _TemplateDict:
    """``dict(...)`` for templates, as Transformers gives them (no class to climb out of)."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


class _GuardedNamespace(Namespace):
    """Jinja's ``namespace`` without underscore names (Transformers' rule, CPython internals)."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # Jinja's own signature trick
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        for name in attrs:
            _check_name(name)
        Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _check_name(name)
        Namespace.__setitem__(self, name, value)


def _check_name(name: object) -> None:
    if isinstance(name, str) and name.startswith("_"):
        raise SecurityError(f"a chat template may not set {name!r} on a namespace")
