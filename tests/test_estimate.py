"""The estimator's rules, on the real SmolLM2 header and on written models of other shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from gguf_factory import Q, write_model

from lmdesk.core.estimate import (
    NO_EXTRA_BUFFERS,
    CpuFeatures,
    EstimateError,
    Fit,
    GpuTarget,
    estimate,
    fit,
    judge,
)
from lmdesk.core.estimate.placement import layer_devices
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.load_settings import LoadSettings

MiB = 1024 * 1024
GPU = [GpuTarget("GPU 0", overhead=0)]


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


def test_output_layer_goes_to_the_gpu_first() -> None:
    assert layer_devices(4, 0, [1.0]) == [-1, -1, -1, -1, -1]
    assert layer_devices(4, 1, [1.0]) == [-1, -1, -1, -1, 0]  # index 4 = output layer
    assert layer_devices(4, 3, [1.0]) == [-1, -1, 0, 0, 0]
    assert layer_devices(4, 5, [1.0]) == [0, 0, 0, 0, 0]
    assert layer_devices(4, 99, [1.0]) == [0, 0, 0, 0, 0]


def test_layers_split_over_two_gpus_by_share() -> None:
    assert layer_devices(5, 6, [1.0, 1.0]) == [0, 0, 0, 1, 1, 1]
    assert layer_devices(5, 6, [2.0, 1.0]) == [0, 0, 0, 0, 1, 1]


def test_gpu_column_matches_what_llama_cpp_placed_over_rpc(smol: ModelInfo) -> None:
    """Figures llama.cpp logged for an RPC device at n_ctx 2048 (DESIGN.md)."""
    one = estimate(smol, LoadSettings(n_gpu_layers=1, n_ctx=2048), GPU).gpus[0]
    assert round(one.weights / MiB, 2) == 28.69  # the tied output layer: a copy of token_embd
    assert one.kv_cache == 0 and one.layers == (30,)
    eleven = estimate(smol, LoadSettings(n_gpu_layers=11, n_ctx=2048), GPU).gpus[0]
    assert round(eleven.weights / MiB, 2) == 49.83
    assert eleven.kv_cache == 15 * MiB  # 10 of 30 layers' KV
    full = estimate(smol, LoadSettings(n_gpu_layers=31, n_ctx=2048), GPU)
    assert round(full.gpus[0].weights / MiB, 2) == 92.10
    assert full.gpus[0].kv_cache == 45 * MiB == 2048 * 30 * (192 + 192) * 2
    assert full.cpu.weights == smol.token_embd.n_bytes  # type: ignore[union-attr]


def test_token_embd_stays_on_the_cpu(smol: ModelInfo) -> None:
    plan = estimate(smol, LoadSettings(n_gpu_layers=-1, n_ctx=512), GPU)
    assert plan.full_offload and plan.cpu.layers == ()
    assert plan.cpu.weights == 30_081_024


def test_context_is_padded_to_256(smol: ModelInfo) -> None:
    a = estimate(smol, LoadSettings(n_ctx=1000), cpu=NO_EXTRA_BUFFERS).cpu.kv_cache
    b = estimate(smol, LoadSettings(n_ctx=1024), cpu=NO_EXTRA_BUFFERS).cpu.kv_cache
    assert a == b == 1024 * 30 * 384 * 2


def test_quantized_cache_sizes(smol: ModelInfo) -> None:
    q8 = LoadSettings(n_ctx=2048, type_k="q8_0", type_v="q8_0", flash_attn=True)
    q4 = q8.with_changes(type_k="q4_0", type_v="q4_0")
    assert estimate(smol, q8).cpu.kv_cache == 2048 * 30 * 2 * (192 // 32 * 34)
    assert estimate(smol, q4).cpu.kv_cache == 2048 * 30 * 2 * (192 // 32 * 18)


def test_quantized_v_cache_needs_flash_attention() -> None:
    with pytest.raises(ValueError, match="flash attention"):
        LoadSettings(type_v="q8_0", flash_attn=False)


def test_too_many_gpu_layers_is_refused(smol: ModelInfo) -> None:
    with pytest.raises(EstimateError, match="at most 31"):
        estimate(smol, LoadSettings(n_gpu_layers=32), GPU)


def test_sliding_window_layers_use_a_smaller_cache(tmp_path: Path) -> None:
    model = read_model(
        write_model(tmp_path / "g2.gguf", arch="gemma2", n_layer=4, sliding_window=256)
    )
    full = estimate(model, LoadSettings(n_ctx=8192, swa_full=True)).cpu.kv_cache
    swa = estimate(model, LoadSettings(n_ctx=8192, swa_full=False)).cpu.kv_cache
    per_cell = model.n_embd_k_gqa(0) * 2 * 2  # K + V, f16
    assert full == 4 * 8192 * per_cell
    assert swa == 2 * 8192 * per_cell + 2 * 768 * per_cell  # window 256 + ubatch 512, padded


def test_untied_output_and_no_mmap(tmp_path: Path) -> None:
    model = read_model(write_model(tmp_path / "u.gguf", tied=False, n_vocab=1024))
    assert not model.tied_embeddings
    plan = estimate(model, LoadSettings(use_mmap=False), cpu=NO_EXTRA_BUFFERS)
    assert plan.cpu.weights >= model.weights_bytes
    one = estimate(model, LoadSettings(n_gpu_layers=1), GPU, cpu=NO_EXTRA_BUFFERS).gpus[0]
    output = next(t for t in model.tensors if t.name == "output.weight")
    assert one.weights >= output.n_bytes


def test_cpu_weight_copies(tmp_path: Path) -> None:
    model = read_model(write_model(tmp_path / "q4.gguf", qtype=Q.Q4_0, n_embd=256, n_ff=512))
    embd = model.token_embd.n_bytes  # type: ignore[union-attr]
    matrices = sum(t.n_bytes for t in model.tensors if len(t.shape) == 2) - embd
    repack = CpuFeatures(repack_types=frozenset({int(Q.Q4_0)}))
    # tied output on the CPU: a matrix multiplication, so it is repacked too
    assert estimate(model, LoadSettings(), cpu=repack).cpu.repack == matrices + embd
    assert estimate(model, LoadSettings(), cpu=NO_EXTRA_BUFFERS).cpu.repack == 0
    amx = estimate(model, LoadSettings(), cpu=CpuFeatures(amx=True)).cpu.repack
    assert amx == matrices + embd  # Q4_0 keeps its size in AMX layout


def test_fit_takes_the_most_layers_within_the_margin(smol: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=8192, flash_attn=False)
    for free in (400 * MiB, 700 * MiB, 1200 * MiB, 8 * 1024 * MiB):
        result = fit(smol, settings, gpu_free=free, margin=256 * MiB, overhead=0)
        budget = free - 256 * MiB
        used = estimate(smol, settings.with_changes(n_gpu_layers=result.n_gpu_layers), GPU)
        assert used.gpu_total <= budget or result.n_gpu_layers == 0
        if result.n_gpu_layers <= smol.n_layer:
            more = settings.with_changes(n_gpu_layers=result.n_gpu_layers + 1)
            assert estimate(smol, more, GPU).gpu_total > budget
    big = fit(smol, settings, gpu_free=8 * 1024 * MiB, margin=256 * MiB, overhead=0)
    assert big.full_offload and big.max_full_offload_ctx == 8192


def test_longest_full_offload_context(smol: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=8192, flash_attn=False)
    result = fit(smol, settings, gpu_free=400 * MiB, margin=100 * MiB, overhead=0)
    ctx = result.max_full_offload_ctx
    assert 256 <= ctx < 8192 and ctx % 256 == 0
    full = settings.with_changes(n_gpu_layers=31)
    assert estimate(smol, full.with_changes(n_ctx=ctx), GPU).gpu_total <= 300 * MiB
    assert estimate(smol, full.with_changes(n_ctx=ctx + 256), GPU).gpu_total > 300 * MiB


def test_verdicts(smol: ModelInfo) -> None:
    plan = estimate(smol, LoadSettings(n_gpu_layers=31, n_ctx=2048, flash_attn=False), GPU)
    need = plan.gpu_total
    assert judge(plan, gpu_free=need + 2 * 1024 * MiB, margin=1024 * MiB).fit is Fit.FITS
    tight = judge(plan, gpu_free=need + 10 * MiB, margin=1024 * MiB)
    assert tight.fit is Fit.TIGHT and "Tight" in tight.headline
    no = judge(plan, gpu_free=need - 10 * MiB, margin=1024 * MiB)
    assert no.fit is Fit.NO_FIT and "10.0 MiB short" in no.headline
    cpu = estimate(smol, LoadSettings(n_gpu_layers=0), GPU)
    assert judge(cpu, gpu_free=8 * 1024 * MiB, margin=0).fit is Fit.CPU_ONLY


def test_a_tensor_split_spreads_layers_and_their_cache_over_two_gpus(smol: ModelInfo) -> None:
    two = [GpuTarget("GPU 0", overhead=0), GpuTarget("GPU 1", overhead=0)]
    settings = LoadSettings(n_gpu_layers=31, n_ctx=2048, tensor_split=(2.0, 1.0))
    plan = estimate(smol, settings, two)
    first, second = plan.gpus
    assert len(first.layers) == 21 and len(second.layers) == 10  # 31 layers cut 2:1
    assert second.layers[-1] == 30  # the output layer lands on the last GPU
    one = estimate(smol, settings.with_changes(tensor_split=None), GPU).gpus[0]
    assert first.weights + second.weights == one.weights
    assert first.kv_cache + second.kv_cache == one.kv_cache == 45 * MiB
    assert first.kv_cache == 21 * MiB * 45 // 30
    with pytest.raises(EstimateError, match="names 2 GPUs, 1 are given"):
        estimate(smol, settings, GPU)
