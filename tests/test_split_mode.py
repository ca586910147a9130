"""Split mode and main GPU (issue 11): the settings, what is remembered, the estimator's
placement ("none" on the main GPU, "row" as llama.cpp's split buffers cut the matrices,
checked by hand from the header's tensor sizes) and the words for what this llama.cpp
refuses (row split on CUDA or RPC devices)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from lmdesk.core.estimate import (
    EstimateError,
    Fit,
    GpuTarget,
    MemoryPlan,
    estimate,
    fit,
    judge,
)
from lmdesk.core.estimate.row_split import ROW_REFUSED
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gguf.model import block_index
from lmdesk.core.load_plan import from_remembered, to_remembered
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import ModelLoadSettings

GiB = 1024**3
TWO = [GpuTarget("a", weight=1.0), GpuTarget("b", weight=1.0)]


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


def test_settings_refuse_a_split_mode_or_main_gpu_that_is_not_one() -> None:
    with pytest.raises(ValueError, match=r"unknown split mode 'rows' \(choose one of none, layer"):
        LoadSettings(split_mode="rows")
    with pytest.raises(ValueError, match="the main GPU is a GPU's number, 0 or more, not -1"):
        LoadSettings(main_gpu=-1)
    assert LoadSettings().split_mode == "layer" and LoadSettings().main_gpu == 0


def test_split_mode_and_main_gpu_are_remembered_with_the_other_load_settings() -> None:
    settings = LoadSettings(n_gpu_layers=20, split_mode="none", main_gpu=1)
    saved = to_remembered(settings, gpu="what-if:pair")
    assert (saved.split_mode, saved.main_gpu) == ("none", 1)
    back = from_remembered(saved, LoadSettings())
    assert (back.split_mode, back.main_gpu, back.n_gpu_layers) == ("none", 1, 20)
    # The settings file refuses a split mode that is not one, as it does any bad value.
    with pytest.raises(ValueError, match="split_mode"):
        ModelLoadSettings(split_mode="rows")  # type: ignore[arg-type]


def test_none_puts_every_offloaded_layer_on_the_main_gpu(smol: ModelInfo) -> None:
    layer = estimate(smol, LoadSettings(n_gpu_layers=-1), TWO)
    assert layer.gpus[0].layers and layer.gpus[1].layers
    for main in (0, 1):
        plan = estimate(smol, LoadSettings(n_gpu_layers=-1, split_mode="none", main_gpu=main), TWO)
        held, idle = plan.gpus[main], plan.gpus[1 - main]
        assert held.layers == tuple(range(smol.n_layer + 1))
        assert held.weights == sum(d.weights for d in layer.gpus)
        assert held.kv_cache == sum(d.kv_cache for d in layer.gpus)
        assert idle.total == 0  # llama.cpp drops the other devices: no CUDA context either
        assert held.overhead == TWO[main].overhead
    with pytest.raises(
        EstimateError, match="there is no GPU 2 to be the main GPU: the GPUs are 0 to 1"
    ):
        estimate(smol, LoadSettings(split_mode="none", main_gpu=2), TWO)


def test_fit_with_one_gpu_left_out_fills_the_main_gpu_alone(smol: ModelInfo) -> None:
    small = GiB + 800 * 1024**2  # the idle card is below the margin: it must not count
    settings = LoadSettings(n_ctx=2048, split_mode="none", main_gpu=1)
    result = fit(smol, settings, gpu_free=[small // 4, small], margin=GiB, gpu_name=["a", "b"])
    assert result.all_layers and result.plan.gpus[0].total == 0


def hand_row_bytes(model: ModelInfo, split: tuple[float, float]) -> tuple[list[int], int]:
    """The matrices of every block and the output layer, cut by rows as get_row_split does
    (device 0: rows 0..int(rows*share0), device 1: the rest), each slice of a quantized row
    not a multiple of 512 elements padded to it; and their size in a plain GPU buffer."""
    # ggml type id: (elements per block, bytes per block) -- F32, F16, Q4_0, Q4_1, Q8_0
    sizes = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34)}
    share0 = split[0] / sum(split)
    per_gpu = [0, 0]
    whole = 0
    tensors = [t for t in model.tensors if len(t.shape) == 2 and t.name != "token_embd.weight"]
    embd = model.token_embd
    assert model.tied_embeddings and embd is not None  # the output is token_embd's copy
    tensors.append(embd)
    for tensor in tensors:
        ne0, rows = tensor.shape
        block, size = sizes[tensor.ggml_type]
        row = ne0 // block * size
        assert row * rows == tensor.n_bytes
        pad = (512 - ne0 % 512) // block * size if block > 1 and ne0 % 512 else 0
        low = int(rows * share0)
        per_gpu[0] += low * row + pad
        per_gpu[1] += (rows - low) * row + pad
        whole += -(-tensor.n_bytes // 256) * 256
    return per_gpu, whole


def test_row_cuts_each_matrix_by_rows_over_the_gpus_and_keeps_the_rest_per_layer(
    smol: ModelInfo,
) -> None:
    split = (2.0, 1.0)
    base = LoadSettings(n_gpu_layers=-1, n_ctx=2048, tensor_split=split)
    sycl = [GpuTarget("a", row_split=True), GpuTarget("b", row_split=True)]
    layer = estimate(smol, base, sycl)
    row = estimate(smol, base.with_changes(split_mode="row"), sycl)
    assert not row.refused  # devices with split buffers (SYCL) load it
    per_gpu, whole = hand_row_bytes(smol, split)
    # SmolLM2: n_embd 576 is not a multiple of 512, so q/k/v/o, gate and up are padded.
    assert smol.n_embd % 512 and per_gpu[0] > 0 and per_gpu[1] > 0
    non_matrix = sum(d.weights for d in layer.gpus) - whole
    assert sum(d.weights for d in row.gpus) == non_matrix + sum(per_gpu)
    # Per GPU: its layers' norms stay, its layers' matrices leave, every matrix's slice comes.
    for i, (r, lay) in enumerate(zip(row.gpus, layer.gpus, strict=True)):
        mine = [t for t in smol.tensors if len(t.shape) == 2 and t.name != "token_embd.weight"]
        held = sum(
            -(-t.n_bytes // 256) * 256
            for t in mine
            if (block_index(t.name) if block_index(t.name) is not None else -1) in lay.layers
        )
        if smol.n_layer in lay.layers:  # the tied output's copy
            held += -(-smol.token_embd.n_bytes // 256) * 256  # type: ignore[union-attr]
        assert r.weights == lay.weights - held + per_gpu[i]
        # The KV cache follows the layers, as split by layer (this llama.cpp); compute too,
        # less the graph copies llama.cpp keeps only when it pipelines a layer split.
        assert (r.kv_cache, r.layers) == (lay.kv_cache, lay.layers)
        assert 0 < r.compute < lay.compute
    assert replace(row.cpu, compute=0) == replace(layer.cpu, compute=0)
    assert row.cpu.compute < layer.cpu.compute


def test_row_on_cuda_or_rpc_devices_is_refused_in_words(smol: ModelInfo) -> None:
    plan: MemoryPlan = estimate(smol, LoadSettings(n_gpu_layers=10, split_mode="row"), TWO)
    assert plan.refused == ROW_REFUSED
    verdict = judge(plan, gpu_free=[8 * GiB, 8 * GiB], margin=GiB)
    assert verdict.fit is Fit.NO_FIT and verdict.headline == "Will not load"
    assert "does not support split buffers" in verdict.detail
    # Even with no layer offloaded: llama.cpp builds every device's buffer list first.
    assert estimate(smol, LoadSettings(n_gpu_layers=0, split_mode="row"), TWO).refused
    # With no GPU at all llama.cpp never consults the split mode: a plain CPU plan.
    cpu_only = estimate(smol, LoadSettings(split_mode="row"))
    assert not cpu_only.refused and cpu_only.devices == estimate(smol, LoadSettings()).devices
