"""Helpers for the app-shell tests: a main window with stand-in pages and recorded GPUs.

NVML is a stand-in (tests/nvml_standin.py replays hand-written readings of a
desktop with an RTX 4060) because this machine has no NVIDIA GPU; every
widget, thread and file is real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from nvml_standin import NvmlStandIn
from PySide6.QtWidgets import QLabel, QWidget

from lmdesk.core.gpus import GpuProbe, probe_gpus
from lmdesk.core.starter import starter_path
from lmdesk.ui.services.context import AppContext
from lmdesk.ui.services.gpu_feed import GpuFeed
from lmdesk.ui.shell import page_registry as pages

SHELL_KEYS = ("chat", "discover", "library", "downloads")


def recorded_probe(fixture: str = "one_gpu_rtx4060") -> Callable[[], GpuProbe]:
    return lambda: probe_gpus(NvmlStandIn.from_fixture(fixture))


def standin_feed(fixture: str = "one_gpu_rtx4060") -> GpuFeed:
    return GpuFeed(probe=recorded_probe(fixture))


def _label_page(key: str) -> Callable[[AppContext], QWidget]:
    def factory(_context: AppContext) -> QWidget:
        page = QLabel(f"{key} page")
        page.setObjectName(f"test-{key}")
        return page

    return factory


@contextmanager
def label_pages() -> Iterator[None]:
    """The other engineers' pages replaced by labels, so these tests see only the shell."""
    saved = {key: pages.page_spec(key) for key in SHELL_KEYS}
    try:
        for key in SHELL_KEYS:
            spec = saved[key]
            pages.register_page(key, spec.title, _label_page(key), icon=spec.icon)
        yield
    finally:
        for key, spec in saved.items():
            pages.register_page(key, spec.title, spec.factory, icon=spec.icon)


def copying_fetch(source: Path, chunk: int = 8 << 20) -> Callable[..., Path]:
    """A starter fetch that copies the real SmolLM2 file in chunks, reporting progress."""

    def fetch(models_dir: Path, progress: Callable[[str, int, int], None]) -> Path:
        target = starter_path(models_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        total = source.stat().st_size
        done = 0
        with source.open("rb") as src, target.open("wb") as out:
            while data := src.read(chunk):
                out.write(data)
                done += len(data)
                progress("download", done, total)
        return target

    return fetch


def place_model(models_dir: Path, source: Path) -> Path:
    target = starter_path(models_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)
    return target
