"""`lmdesk --self-test`: prove an install works end to end, without a person.

It builds the main window and renders it (Qt and its plugins load), makes
sure the starter model is there, loads it with lmdesk's engine (over
llama-cpp-python) and generates a few tokens, printing each step. Exit
status 0 when all of it worked, 1 with the reason otherwise. Without a
display it renders offscreen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

PROMPT = "Name three colours."
MAX_TOKENS = 16


def _say(text: str) -> None:
    print(f"self-test: {text}", flush=True)


def _needs_offscreen() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def check_window() -> str:
    """Build the main window and render it; returns its size."""
    from lmdesk.ui.app import make_application
    from lmdesk.ui.shell.main_window import MainWindow

    app = make_application([])
    window = MainWindow()
    try:
        image = window.grab()
        if image.isNull() or image.width() < 100:
            raise RuntimeError("the main window rendered as an empty image")
        app.processEvents()
        return f"{image.width()}x{image.height()} ({app.platformName()})"
    finally:
        window.shutdown()
        window.deleteLater()


def ensure_model(progress: Callable[[str, int, int], None] | None = None) -> Path:
    from lmdesk.core import paths
    from lmdesk.core.settings import load_settings
    from lmdesk.core.starter import ensure_starter_model

    settings = load_settings()
    return ensure_starter_model(
        paths.models_dir(settings.models_dir), progress=progress, endpoint=settings.hf_endpoint
    )


def generate(model: Path) -> tuple[str, int, float]:
    """A short greedy reply through lmdesk's engine: (text, tokens, tokens per second).

    The engine, not `llama_cpp.Llama` directly: it is what the app runs, and it
    keeps llama.cpp off the AMX kernels that crash on some virtual machines.
    """
    from lmdesk.core.engine import Engine, LoadSettings, ReplyStats, SamplingSettings

    engine = Engine()
    try:
        engine.load(model, LoadSettings(n_ctx=512))
        chunks = list(
            engine.chat(
                [{"role": "user", "content": PROMPT}],
                SamplingSettings(temperature=0.0, max_tokens=MAX_TOKENS),
            )
        )
    finally:
        engine.close()
    stats = chunks[-1]
    if not isinstance(stats, ReplyStats):
        raise RuntimeError("the engine's reply ended without its statistics")
    return stats.text, stats.generated_tokens, stats.tokens_per_s


def run_self_test() -> int:
    if _needs_offscreen():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        _say(f"window rendered {check_window()}")
        model = ensure_model()
        _say(f"model {model} ({model.stat().st_size:,} bytes)")
        text, tokens, rate = generate(model)
        if tokens <= 0 or not text.strip():
            raise RuntimeError("llama.cpp loaded the model but generated nothing")
        _say(f"generated {tokens} tokens at {rate:.0f} tok/s: {text.strip()!r}")
    except Exception as exc:
        print(f"self-test failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    _say("ok")
    return 0
