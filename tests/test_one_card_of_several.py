"""A load planned for one GPU of several stays on that GPU.

llama.cpp, given no device list, spreads the offloaded layers over every GPU it sees;
a plan made for one card of two would then not be what it allocates. Every door that
plans a load (the Load panel, My Models, the model loaded at start and the API server's
`plan_load`) names the card in `LoadSettings.gpus`, and the engine hands llama.cpp that
card alone. NVML is the stand-in replaying a recorded two-GPU machine (no GPU here);
the engine part runs the real llama.cpp, which sees no GPU on this machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import llama_cpp
import pytest
from pytestqt.qtbot import QtBot
from shell_helpers import recorded_probe

from lmdesk.core.engine import Engine, EngineError, TextChunk
from lmdesk.core.engine.rpc_devices import chosen_gpus
from lmdesk.core.estimate import FitInputs
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import LlamaBuild, find_what_if
from lmdesk.core.library import LibraryEntry
from lmdesk.core.load_plan import (
    WORKERS_TARGET,
    keep_to_card,
    plan_load,
    settings_for,
    to_remembered,
)
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings
from lmdesk.core.settings import Settings
from lmdesk.core.units import GiB
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.kit.offload.gpu_picker import ALL_GPUS
from lmdesk.ui.pages.library.actions import plan_load as library_plan_load
from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore

TWO = recorded_probe("two_gpus_rtx3060_rtx4060")
GREEDY = SamplingSettings(temperature=0.0, max_tokens=4)
CUDA = LlamaBuild(gpu_offload=True, backends=("CPU", "CUDA"), version="test")


def test_the_rule_names_one_card_of_several_and_nothing_else() -> None:
    first, second = TWO().gpus
    settings = LoadSettings(n_gpu_layers=10)
    assert keep_to_card(settings, second, (first, second)).gpus == (1,)
    assert keep_to_card(settings, first, (first, second)).gpus == (0,)
    assert keep_to_card(settings, first, (first,)).gpus == ()  # the only GPU: the default
    assert keep_to_card(settings, None, (first, second)).gpus == ()  # CPU only, or All GPUs
    what_if = find_what_if("GeForce RTX 4090 24 GB")
    assert what_if is not None
    assert keep_to_card(settings, what_if, (first, second)).gpus == ()  # not in this machine
    # a choice that no longer applies is dropped, not kept from before
    assert keep_to_card(settings.with_changes(gpus=(1,)), None, (first, second)).gpus == ()


def test_every_door_keeps_the_load_to_the_card(qtbot: QtBot, smollm2_path: Path) -> None:
    probe = TWO()
    first, second = probe.gpus
    model = read_model(smollm2_path)
    settings = Settings()
    fitted = settings_for(model, smollm2_path, settings, gpu=second, machine=probe.gpus)
    assert fitted.gpus == (1,) and fitted.n_gpu_layers == model.n_layer + 1

    # Remembered on the second card: that card, whichever one the caller would fit to.
    on_second = settings.remember(str(smollm2_path), to_remembered(fitted, gpu=second.uuid))
    again = settings_for(model, smollm2_path, on_second, gpu=first, machine=probe.gpus)
    assert again.gpus == (1,)
    # Remembered over every GPU, or over the workers: llama.cpp's default devices.
    for target in (ALL_GPUS, WORKERS_TARGET):
        spread = settings.remember(str(smollm2_path), to_remembered(fitted, gpu=target))
        assert settings_for(model, smollm2_path, spread, gpu=first, machine=probe.gpus).gpus == ()

    # The model loaded at start and the API server: the card with the most usable memory.
    best = max(probe.gpus, key=lambda g: g.usable_bytes)
    started = plan_load(smollm2_path, settings=settings, probe=probe, build=CUDA)
    assert started.gpus == (best.index,)

    # My Models, with the second card picked in its "Fit for".
    entry = LibraryEntry(
        path=smollm2_path, parts=(smollm2_path,), source="lmdesk", size=model.file_size, model=model
    )
    inputs = FitInputs(gpu=second, defaults=settings.load, margin=GiB, ram_total=64 * GiB)
    assert library_plan_load(entry, settings, inputs, CUDA, probe.gpus).gpus == (1,)

    # The Load panel: the second card alone, then both.
    panel = OffloadPanel(SettingsStore(settings))
    qtbot.addWidget(panel)
    panel.set_gpus(probe)
    panel.set_model(model, str(smollm2_path))
    picker = panel.controls.gpu
    assert picker.select(second.uuid)
    picker.target_changed.emit()
    assert panel.settings().gpus == (1,)
    assert len(panel.current_plan().gpus) == 1  # the plan is for that card, as loaded
    assert picker.select(ALL_GPUS)
    picker.target_changed.emit()
    assert panel.settings().gpus == ()
    assert len(panel.current_plan().gpus) == 2


def test_the_engine_hands_llama_cpp_the_card_or_says_it_is_not_there(
    smollm2_path: Path,
) -> None:
    assert chosen_gpus([11, 22], (1,)) == [22]
    assert chosen_gpus([11, 22], ()) == [11, 22]
    with pytest.raises(EngineError) as error:
        chosen_gpus([11], (1,))
    assert str(error.value) == "There is no GPU 1 to load on: llama.cpp sees 1 GPU here."
    # This llama.cpp sees no GPU (a CPU build here): the card's layers run on the CPU, as
    # any GPU layer count does on such a build, rather than the load failing.
    assert chosen_gpus([], (1,)) == []
    engine = Engine()
    report = engine.load(
        smollm2_path, LoadSettings(n_ctx=256, n_threads=1, n_gpu_layers=10, gpus=(1,))
    )
    assert engine.loaded and report.settings.gpus == (1,)
    reply = engine.complete("The sky is", GREEDY)
    assert "".join(c.text for c in reply if isinstance(c, TextChunk)).strip()
    engine.close()


def test_the_model_loaded_at_start_is_kept_to_its_card_before_the_first_gpu_reading(
    qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    """The app asks for the last model before the GPU feed's first reading: the host reads
    the GPUs itself then (NVML's stand-in, two cards), not plan for no GPU at all."""
    import lmdesk.core.gpus as gpus

    monkeypatch.setattr(gpus, "probe_gpus", lambda *_a, **_k: TWO())
    context = AppContext(settings=SettingsStore(Settings()), signals=AppSignals())
    context.llama_build = CUDA  # as llama.cpp with CUDA would say
    assert context.latest_probe is None
    try:
        with qtbot.waitSignal(context.models.loading, timeout=30_000) as loading:
            context.signals.load_model_requested.emit(str(smollm2_path), None)
        best = max(TWO().gpus, key=lambda g: g.usable_bytes)
        _path, settings = loading.args
        assert settings.gpus == (best.index,) and settings.n_gpu_layers > 0
    finally:
        context.close()


def test_llama_cpp_python_s_own_loader_gets_the_same_card() -> None:
    kwargs = LoadSettings(gpus=(1,)).to_llama_kwargs()
    assert (kwargs["split_mode"], kwargs["main_gpu"]) == (llama_cpp.LLAMA_SPLIT_MODE_NONE, 1)
    with pytest.raises(ValueError, match="list of GPUs"):
        LoadSettings(gpus=(0, 1)).to_llama_kwargs()
    for bad in ((-1,), (1, 1)):
        with pytest.raises(ValueError, match="distinct numbers"):
            LoadSettings(gpus=bad)


def test_cuda_numbers_the_gpus_as_nvml_does_unless_told_otherwise() -> None:
    code = "import os, lmdesk; print(os.environ['CUDA_DEVICE_ORDER'])"
    env = {k: v for k, v in os.environ.items() if k != "CUDA_DEVICE_ORDER"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "PCI_BUS_ID"
    env["CUDA_DEVICE_ORDER"] = "FASTEST_FIRST"  # the person's own choice is kept
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "FASTEST_FIRST"
