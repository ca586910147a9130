"""The estimate counts the vision projector, checked against what libmtmd logs when the real
projector (tests/mmproj_factory.py) loads beside the real SmolLM2, and the load rule pairs a
projector found beside the model."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from mmproj_factory import write_mmproj
from pytestqt.qtbot import QtBot
from shell_helpers import recorded_probe

from lmdesk.core.engine import Engine
from lmdesk.core.engine.errors import ModelFileError
from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.estimate.projector import (
    ProjectorError,
    read_projector,
    with_projector,
)
from lmdesk.core.gguf import read_model
from lmdesk.core.gguf.projector import find_projector
from lmdesk.core.load_plan import settings_for
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import Settings
from lmdesk.core.units import MiB
from lmdesk.ui.kit.offload import OffloadPanel
from lmdesk.ui.services.context import SettingsStore

SMOLLM2_EMBD = 576
_SIZE = re.compile(r"model size:\s+([\d.]+) MiB|CPU compute buffer size =\s+([\d.]+) MiB")


def _libmtmd_buffers(
    smollm2_path: Path, projector: Path, caplog: pytest.LogCaptureFixture
) -> tuple[float, float]:
    """(weights, compute) in MiB, as libmtmd logs them while loading ``projector``."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="lmdesk.llama"):
        engine = Engine()
        engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1, mmproj=str(projector)))
        engine.unload()
    lines = [r.getMessage() for r in caplog.records if r.name == "lmdesk.llama"]
    start = next(i for i, line in enumerate(lines) if "clip_model_loader" in line)
    found = [m for line in lines[start:] if (m := _SIZE.search(line))]
    weights = next(float(m.group(1)) for m in found if m.group(1))
    compute = next(float(m.group(2)) for m in found if m.group(2))
    return weights, compute


@pytest.mark.parametrize(
    "shape",
    [
        {},  # the chat tests' projector: 2 layers, 32x32 images
        {"hidden": 384, "ff": 1536, "image": 336, "patch": 14, "heads": 6, "layers": 4},
        {"hidden": 64, "ff": 256, "image": 448, "patch": 14, "layers": 3},
    ],
    ids=["tiny", "vit-336", "vit-448"],
)
def test_the_projector_estimate_matches_what_libmtmd_allocates(
    smollm2_path: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    shape: dict[str, int],
) -> None:
    path = write_mmproj(tmp_path / "mmproj.gguf", text_embd=SMOLLM2_EMBD, **shape)
    logged_weights, logged_compute = _libmtmd_buffers(smollm2_path, path, caplog)
    info = read_projector(path)
    assert info.file_bytes / MiB == pytest.approx(logged_weights, rel=0.01, abs=0.005)
    # libmtmd logs two decimals: the tiny projector's 0.02 MiB is 0.015..0.025
    assert info.compute() / MiB == pytest.approx(logged_compute, rel=0.05, abs=0.005)
    if shape:
        assert info.compute() / MiB == pytest.approx(logged_compute, rel=0.01)


def test_the_projector_goes_where_libmtmd_puts_it(smollm2_path: Path, tmp_path: Path) -> None:
    model = read_model(smollm2_path)
    path = write_mmproj(tmp_path / "mmproj.gguf", text_embd=SMOLLM2_EMBD, hidden=256, ff=1024)
    info = read_projector(path)
    on_cpu = LoadSettings(n_ctx=1024, n_gpu_layers=0)
    plain = estimate(model, on_cpu, [GpuTarget("GPU 0")])
    seeing = with_projector(plain, info)
    # No layer offloaded: the CPU holds it (this CPU build always does).
    assert seeing.cpu.weights - plain.cpu.weights == info.weights(32) >= info.file_bytes
    assert seeing.cpu.compute - plain.cpu.compute == info.compute(32) > 0
    assert seeing.gpus == plain.gpus
    # Layers offloaded: libmtmd's use_gpu puts weights and compute on the first GPU; the
    # CPU keeps the image's inputs.
    offloaded = LoadSettings(n_ctx=1024, n_gpu_layers=10)
    plain = estimate(model, offloaded, [GpuTarget("GPU 0"), GpuTarget("GPU 1")])
    seeing = with_projector(plain, info)
    assert seeing.gpus[1] == plain.gpus[1] and seeing.cpu.weights == plain.cpu.weights
    assert seeing.cpu.compute - plain.cpu.compute == info.inputs() == 12_288 + 32 + 32
    grown = seeing.gpus[0].total - plain.gpus[0].total
    assert grown == info.weights(256) + info.compute(256)
    assert with_projector(plain, None) is plain


def test_a_file_that_is_no_projector_is_refused_with_a_sentence(smollm2_path: Path) -> None:
    with pytest.raises(ProjectorError, match="is not a vision projector"):
        read_projector(smollm2_path)


def test_the_load_rule_pairs_the_projector_beside_the_model(
    smollm2_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "HuggingFaceTB" / "SmolLM2"
    folder.mkdir(parents=True)
    model_path = folder / smollm2_path.name
    model_path.symlink_to(smollm2_path)
    model = read_model(model_path)
    settings = Settings()
    assert settings_for(model, model_path, settings, gpu=None).mmproj is None
    # Another model's projector (2048-wide) beside it is not paired.
    write_mmproj(folder / "mmproj-other-f16.gguf", text_embd=2048)
    assert find_projector(model_path, SMOLLM2_EMBD) is None
    assert settings_for(model, model_path, settings, gpu=None).mmproj is None
    own = write_mmproj(folder / "SmolLM2-mmproj-f16.gguf", text_embd=SMOLLM2_EMBD, hidden=512)
    assert settings_for(model, model_path, settings, gpu=None).mmproj == str(own)

    # On a card with room for every layer but not for the projector too, the rule keeps
    # layers back so that the projector fits.
    card = recorded_probe("one_gpu_rtx4060")().gpus[0]
    plan = estimate(model, settings_for(model, model_path, settings, gpu=None), [GpuTarget("x")])
    needed_all = estimate(
        model, plan.settings.with_changes(n_gpu_layers=model.n_layer + 1), [GpuTarget("x")]
    ).gpu_total
    tight = replace(
        card,
        total_bytes=needed_all + settings.gpu_safety_margin_bytes + 2 * MiB,
        used_by_others_bytes=0,
    )
    fitted = settings_for(model, model_path, settings, gpu=tight)
    assert fitted.n_gpu_layers < model.n_layer + 1
    seeing = with_projector(estimate(model, fitted, [GpuTarget("x")]), read_projector(own))
    assert seeing.gpu_total <= tight.usable_bytes - settings.gpu_safety_margin_bytes
    own.unlink()
    without = settings_for(model, model_path, settings, gpu=tight)
    assert without.mmproj is None and without.n_gpu_layers == model.n_layer + 1


def test_the_load_panel_names_the_projector_and_counts_it_in_the_bars(
    qtbot: QtBot, smollm2_path: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    model_path = folder / smollm2_path.name
    model_path.symlink_to(smollm2_path)
    own = write_mmproj(folder / "mmproj-SmolLM2-f16.gguf", text_embd=SMOLLM2_EMBD, hidden=512)
    model = read_model(model_path)
    panel = OffloadPanel(SettingsStore(Settings()))
    qtbot.addWidget(panel)
    panel.set_model(model, str(model_path))
    info = read_projector(own)
    assert panel.settings().mmproj == str(own)
    assert not panel.vision.isHidden()
    assert panel.vision.text() == f"Vision: projector {own.name} (13 MB)"
    text_only = estimate(model, panel.settings(), [])
    plan = panel.current_plan()
    assert plan.cpu.weights == text_only.cpu.weights + info.weights(32)
    assert plan.cpu.compute == text_only.cpu.compute + info.compute()
    panel.resize(420, 640)
    if (shots := os.environ.get("LMDESK_SHOTS")) is not None:
        panel.grab().save(str(Path(shots) / "load_panel_vision.png"))
    # A text-only model: no line, nothing added.
    panel.set_model(read_model(smollm2_path), str(smollm2_path))
    assert panel.vision.isHidden() and panel.projector() is None


def test_on_a_gpu_the_projector_goes_where_libmtmd_puts_it(
    smollm2_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The loopback RPC device stands in for a GPU (DESIGN.md): libmtmd given it as its
    device logs a compute buffer there and one for the inputs on the CPU."""
    import ctypes

    from llama_cpp import mtmd_cpp

    from lmdesk.core.engine import llama_log
    from lmdesk.core.llama_memory.rpc import RpcServer

    path = write_mmproj(
        tmp_path / "mmproj.gguf", text_embd=SMOLLM2_EMBD, hidden=384, ff=1536, image=336, patch=14
    )
    info = read_projector(path)
    engine = Engine()
    engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1))
    try:
        with RpcServer() as server, caplog.at_level(logging.DEBUG, logger="lmdesk.llama"):
            llama_log.install_mtmd()
            params = mtmd_cpp.mtmd_context_params_default()
            params.use_gpu, params.device = True, ctypes.c_void_p(server.device)
            params.n_threads, params.print_timings = 1, False
            native = engine._native  # the loaded model libmtmd pairs with
            assert native is not None
            ctx = mtmd_cpp.mtmd_init_from_file(str(path).encode(), native.model, params)
            assert ctx
            mtmd_cpp.mtmd_free(ctx)
    finally:
        engine.unload()
    logged = {
        m.group(1): float(m.group(2))
        for r in caplog.records
        if (m := re.search(r"(\S+) compute buffer size =\s+([\d.]+) MiB", r.getMessage()))
        and "reserve_compute_meta" in r.getMessage()
    }
    gpu_name = next(name for name in logged if name.startswith("RPC"))
    model = read_model(smollm2_path)
    plain = estimate(model, LoadSettings(n_ctx=256, n_gpu_layers=1), [GpuTarget("GPU 0")])
    seeing = with_projector(plain, info)
    gpu_compute = (seeing.gpus[0].compute - plain.gpus[0].compute) / MiB
    cpu_compute = (seeing.cpu.compute - plain.cpu.compute) / MiB
    assert gpu_compute == pytest.approx(logged[gpu_name], rel=0.01)
    assert cpu_compute == pytest.approx(logged["CPU"], rel=0.01)


def test_a_paired_projector_libmtmd_cannot_load_leaves_the_model_loading_without_it(
    smollm2_path: Path, tmp_path: Path
) -> None:
    model_path = tmp_path / smollm2_path.name
    model_path.symlink_to(smollm2_path)
    beside = write_mmproj(
        tmp_path / "mmproj-new-kind.gguf", text_embd=SMOLLM2_EMBD, projector_type="from_2030"
    )
    settings = settings_for(read_model(model_path), model_path, Settings(), gpu=None)
    assert settings.mmproj == str(beside)  # paired by its width; its type is for libmtmd
    engine = Engine()
    engine.load(model_path, settings.with_changes(n_ctx=256, n_threads=1))
    try:
        assert engine.loaded and not engine.sees_images
    finally:
        engine.unload()
    # Chosen by hand from elsewhere, the same file is refused with a sentence.
    elsewhere = tmp_path / "other" / "mine.gguf"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(beside.read_bytes())
    with pytest.raises(ModelFileError, match="could not load the projector"):
        engine.load(model_path, LoadSettings(n_ctx=256, n_threads=1, mmproj=str(elsewhere)))
