"""The Hardware page and the status bar, fed by recorded GPU readings and the real llama.cpp build.

NVML is a stand-in (tests/nvml_standin.py replays hand-written readings in the
recorder's layout) because this machine has no NVIDIA GPU. The `LlamaBuild` values
with CUDA are written by hand for the same reason; this machine's real
build is looked up too.
"""

from __future__ import annotations

import dataclasses
import threading

from pytestqt.qtbot import QtBot
from shell_helpers import recorded_probe, standin_feed

from lmdesk.core.gpus import (
    WHAT_IF_CARDS,
    LlamaBuild,
    cuda_install_command,
    llama_build_info,
    system_memory,
)
from lmdesk.core.units import GiB, format_size
from lmdesk.ui.pages.hardware.cards import GpuCard, NoGpuCard
from lmdesk.ui.pages.hardware.page import HardwarePage
from lmdesk.ui.pages.hardware.what_if_model import WhatIfModel
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
from lmdesk.ui.shell.status_bar import StatusBar

CPU_BUILD = LlamaBuild(gpu_offload=True, backends=("RPC", "CPU"), version="0.3.36")
CUDA_BUILD = LlamaBuild(gpu_offload=True, backends=("CUDA", "RPC", "CPU"), version="0.3.36")


def make_page(qtbot: QtBot) -> tuple[HardwarePage, AppContext]:
    context = AppContext(SettingsStore(), AppSignals())
    page = HardwarePage(context)
    qtbot.addWidget(page)
    page.resize(1200, 900)
    page.show()
    return page, context


def test_two_gpus_get_a_card_each(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    probe = recorded_probe("two_gpus_rtx3090_rtx3060")()
    context.signals.gpu_probe.emit(probe)
    cards = page.gpu_cards
    assert [type(c) for c in cards] == [GpuCard, GpuCard]
    assert [c.title.text() for c in cards] == [g.name for g in probe.gpus]  # type: ignore[attr-defined]
    first = cards[0]
    assert isinstance(first, GpuCard)
    gpu = probe.gpus[0]
    assert first.memory.text().startswith(f"{format_size(gpu.free_bytes)} free of ")
    assert f"driver {gpu.driver_version}" in first.identity.text()
    assert f"CUDA {gpu.cuda_version}" in first.identity.text()
    assert first.bar.value() == round(1000 * gpu.used_bytes / gpu.total_bytes)


def test_cards_update_in_place_and_rebuild_when_gpus_change(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    probe = recorded_probe("one_gpu_rtx4060")()
    context.signals.gpu_probe.emit(probe)
    card = page.gpu_cards[0]
    busier = dataclasses.replace(probe.gpus[0], free_bytes=GiB, used_bytes=7 * GiB)
    context.signals.gpu_probe.emit(dataclasses.replace(probe, gpus=(busier,)))
    assert page.gpu_cards[0] is card  # same GPU: same card, new numbers
    assert isinstance(card, GpuCard) and card.memory.text().startswith("1.0 GiB free")
    context.signals.gpu_probe.emit(recorded_probe("zero_gpus")())
    assert [type(c) for c in page.gpu_cards] == [NoGpuCard]


def test_no_driver_is_said_plainly(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    context.signals.gpu_probe.emit(recorded_probe("error_driver_not_loaded")())
    card = page.gpu_cards[0]
    assert isinstance(card, NoGpuCard)
    assert card.title.text() == "No NVIDIA GPU found"
    assert card.reason.text() == "No NVIDIA driver"


def test_cuda_hint_shows_when_a_gpu_sits_idle(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    context.latest_probe = recorded_probe("one_gpu_rtx4060")()
    context.signals.gpu_probe.emit(context.latest_probe)
    context.llama_build = CPU_BUILD
    context.signals.llama_build.emit(CPU_BUILD)
    build = page.build_card
    assert build.hint_box.isVisible()
    assert build.command.text() == cuda_install_command("0.3.36")
    assert "NVIDIA GeForce RTX 4060 is not used" in build.hint.text()
    assert build.title.text() == "llama.cpp 0.3.36 · CPU build"
    build.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == cuda_install_command("0.3.36")
    context.signals.llama_build.emit(CUDA_BUILD)
    assert not build.hint_box.isVisible()
    assert build.title.text() == "llama.cpp 0.3.36 · CUDA build"


def test_real_build_and_memory_of_this_machine(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    real = llama_build_info()
    context.signals.llama_build.emit(real)
    assert real.version in page.build_card.title.text()
    memory = system_memory()
    assert format_size(memory.total_bytes) in page.ram_card.text.text()


def test_what_if_table(qtbot: QtBot, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = WhatIfModel(WHAT_IF_CARDS, GiB)
    qtmodeltester.check(model)
    row = next(i for i, c in enumerate(WHAT_IF_CARDS) if c.name == "GeForce RTX 4090 24 GB")
    assert model.data(model.index(row, 1)) == "24 GB"
    card = WHAT_IF_CARDS[row]
    assert model.data(model.index(row, 2)) == format_size(card.free_bytes)
    assert model.data(model.index(row, 3)) == format_size(card.free_bytes - GiB)
    with qtbot.waitSignal(model.dataChanged):
        model.set_margin(2 * GiB)
    assert model.data(model.index(row, 3)) == format_size(card.free_bytes - 2 * GiB)


def test_the_what_if_table_lists_pairs_as_one_row_of_two_cards(qtbot: QtBot) -> None:
    page, _context = make_page(qtbot)
    model = page.what_if
    names = [model.data(model.index(row, 0)) for row in range(model.rowCount())]
    row = names.index("2 × GeForce RTX 3060 12 GB")
    one = next(c for c in WHAT_IF_CARDS if c.name == "GeForce RTX 3060 12 GB")
    margin = page._context.settings.settings.gpu_safety_margin_bytes
    assert model.data(model.index(row, 1)) == "24 GB"
    assert model.data(model.index(row, 2)) == format_size(2 * one.free_bytes)
    assert model.data(model.index(row, 3)) == format_size(2 * (one.usable_bytes - margin))
    assert "GeForce RTX 3060 12 GB + GeForce RTX 4060 8 GB" in names


def test_page_follows_the_margin_setting(qtbot: QtBot) -> None:
    page, context = make_page(qtbot)
    store = context.settings
    store.save(dataclasses.replace(store.settings, gpu_safety_margin_bytes=0))
    card = WHAT_IF_CARDS[0]
    assert page.what_if.data(page.what_if.index(0, 3)) == format_size(card.free_bytes)


# -- status bar --------------------------------------------------------------------------------
def test_status_bar_parts(qtbot: QtBot) -> None:
    bar = StatusBar()
    qtbot.addWidget(bar)
    assert bar.text == "llama.cpp 0.3.36"
    bar.set_llama_build(CUDA_BUILD)
    bar.set_gpu_probe(recorded_probe("one_gpu_rtx4060")())
    bar.set_token_rate(24.4)
    bar.set_downloads(1, 43.2)
    assert bar.text == (
        "llama.cpp 0.3.36  ·  CUDA build  ·  GPU 0: GeForce RTX 4060 8.0 GiB, 7.4 GiB free"
        "  ·  last reply 24 tok/s  ·  1 download running 43%"
    )
    bar.set_model("SmolLM2 135M Instruct")
    assert "SmolLM2 135M Instruct loaded" in bar.text
    bar.set_downloads(0, 0)
    bar.set_model(None)
    assert "download" not in bar.text and "loaded" not in bar.text
    bar.set_downloads(3, 10)
    assert bar.text.endswith("3 downloads running 10%")
    bar.set_gpu_probe(recorded_probe("zero_gpus")())
    assert "No NVIDIA GPU" in bar.text


def test_gpu_feed_delivers_on_the_gui_thread(qtbot: QtBot) -> None:
    feed = standin_feed("two_gpus_rtx3090_rtx3060")
    bar = StatusBar()
    qtbot.addWidget(bar)
    on_gui_thread: list[bool] = []
    feed.sig_probe.connect(lambda _p: on_gui_thread.append(threading.current_thread().name))
    feed.sig_probe.connect(bar.set_gpu_probe)
    try:
        feed.start(interval_s=0.02)
        qtbot.waitUntil(lambda: len(on_gui_thread) >= 3, timeout=5000)
    finally:
        feed.stop()
    assert not feed.running
    assert set(on_gui_thread) == {threading.main_thread().name}
    assert "GPU 0: GeForce RTX 3090" in bar.text and "GPU 1: GeForce RTX 3060" in bar.text
    assert feed.latest is not None and len(feed.latest.gpus) == 2


def test_gpu_feed_deleted_without_stop_ends_its_thread(qtbot: QtBot) -> None:
    feed = standin_feed()
    feed.start(interval_s=0.02)
    qtbot.waitUntil(lambda: feed.latest is not None, timeout=5000)
    monitor = feed._monitor
    assert monitor is not None
    import shiboken6

    shiboken6.delete(feed)  # as when a parent window goes away without shutdown()
    qtbot.waitUntil(lambda: not monitor.running, timeout=5000)
