"""Experts on the CPU (``n_cpu_moe``): the estimator, Auto's order, the load rule and verdicts.

On headers shaped like Qwen3-30B-A3B and gpt-oss-20b (tests/shaped_models.py); what llama.cpp
really allocates for them is checked in test_moe_llama.py and bench/estimate_accuracy.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from gguf import GGMLQuantizationType
from shaped_models import GPT_OSS_20B, QWEN3_30B_A3B, write_shaped

from lmdesk.core.estimate import (
    NO_EXTRA_BUFFERS,
    CpuFeatures,
    GpuTarget,
    estimate,
    fit,
    judge,
)
from lmdesk.core.estimate.model_verdict import FitInputs
from lmdesk.core.estimate.weights import padded
from lmdesk.core.expert_tensors import cpu_experts_pattern, expert_layer
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import custom_card
from lmdesk.core.load_plan import (
    from_remembered,
    lighter_settings,
    settings_for,
    to_remembered,
)
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import LoadDefaults, Settings

GiB = 1024**3
GPU = [GpuTarget("GPU 0", overhead=0)]


@pytest.fixture(scope="module")
def qwen(tmp_path_factory: pytest.TempPathFactory) -> ModelInfo:
    folder = tmp_path_factory.mktemp("moe")
    return read_model(write_shaped(folder / "qwen3.gguf", QWEN3_30B_A3B, "Q4_K_M")[0])


@pytest.fixture(scope="module")
def oss(tmp_path_factory: pytest.TempPathFactory) -> ModelInfo:
    folder = tmp_path_factory.mktemp("moe")
    return read_model(write_shaped(folder / "gpt-oss.gguf", GPT_OSS_20B, "Q8_0")[0])


def _expert_bytes(model: ModelInfo, layers: range) -> int:
    return sum(
        padded(t.n_bytes, 256)
        for t in model.tensors
        if expert_layer(t.name) is not None and expert_layer(t.name) in layers
    )


def test_expert_tensors_are_named_as_llama_cpp_names_them() -> None:
    assert expert_layer("blk.3.ffn_up_exps.weight") == 3
    assert expert_layer("blk.12.ffn_down_exps.bias") == 12
    assert expert_layer("blk.3.ffn_gate_inp.weight") is None  # the router stays
    assert expert_layer("blk.3.ffn_up_shexp.weight") is None  # shared experts stay
    assert cpu_experts_pattern(0) is None
    assert cpu_experts_pattern(2) == r"^blk\.(0|1)\.ffn_(up|down|gate|gate_up)_(ch|)exps"


@pytest.mark.parametrize("n_cpu_moe", [1, 24, 48])
def test_experts_of_the_first_layers_move_from_the_gpu_to_ram(
    qwen: ModelInfo, n_cpu_moe: int
) -> None:
    full = LoadSettings(n_ctx=4096, n_gpu_layers=-1, use_mmap=False)
    before = estimate(qwen, full, GPU)
    after = estimate(qwen, full.with_changes(n_cpu_moe=n_cpu_moe), GPU)
    moved = _expert_bytes(qwen, range(n_cpu_moe))
    assert before.gpus[0].weights - after.gpus[0].weights == moved
    assert after.experts_on_cpu == n_cpu_moe
    assert after.expert_bytes_on_cpu > 0.99 * moved
    assert after.cpu.weights - before.cpu.weights == after.expert_bytes_on_cpu
    assert after.cpu.compute > before.cpu.compute  # the CPU now runs those experts
    assert after.gpus[0].kv_cache == before.gpus[0].kv_cache


def test_experts_of_cpu_layers_stay_where_they_were(qwen: ModelInfo) -> None:
    cpu_only = LoadSettings(n_ctx=4096, n_gpu_layers=0)
    plan = estimate(qwen, cpu_only.with_changes(n_cpu_moe=48), GPU, cpu=NO_EXTRA_BUFFERS)
    assert plan.devices == estimate(qwen, cpu_only, GPU, cpu=NO_EXTRA_BUFFERS).devices
    assert plan.experts_on_cpu == 0 and plan.gpus[0].weights == 0


def test_overridden_experts_are_never_repacked(qwen: ModelInfo) -> None:
    """llama.cpp puts experts matched by the override in the plain CPU buffer (measured)."""
    avx2 = CpuFeatures(repack_types=frozenset({int(GGMLQuantizationType.Q4_K)}))
    cpu_only = LoadSettings(n_ctx=4096, n_gpu_layers=0)
    before = estimate(qwen, cpu_only, GPU, cpu=avx2).cpu
    after = estimate(qwen, cpu_only.with_changes(n_cpu_moe=24), GPU, cpu=avx2).cpu
    q4k_experts = sum(
        t.n_bytes
        for t in qwen.tensors
        if (expert_layer(t.name) or 0) < 24
        and expert_layer(t.name) is not None
        and t.ggml_type == GGMLQuantizationType.Q4_K
    )
    assert q4k_experts > 0 and before.repack - after.repack == q4k_experts
    assert after.weights == before.weights  # still inside the one mapped window


def test_negative_expert_layers_are_refused() -> None:
    with pytest.raises(ValueError, match="experts on the CPU cannot be negative"):
        LoadSettings(n_cpu_moe=-1)


def test_auto_on_an_8_gb_card_keeps_every_layer_and_moves_experts_first(qwen: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=4096)
    result = fit(qwen, settings, gpu_free=8 * GiB, margin=GiB // 2)
    assert result.all_layers and 0 < result.n_cpu_moe < qwen.n_layer
    assert result.choice() == f"49 of 49 layers, experts of {result.n_cpu_moe} layers on the CPU"
    budget = 8 * GiB - GiB // 2
    assert result.plan.gpu_total <= budget
    one_less = settings.with_changes(n_gpu_layers=-1, n_cpu_moe=result.n_cpu_moe - 1)
    assert estimate(qwen, one_less, [GpuTarget("GPU 0")]).gpu_total > budget
    assert not result.full_offload


def test_auto_drops_whole_layers_only_when_the_dense_part_does_not_fit(qwen: ModelInfo) -> None:
    result = fit(qwen, LoadSettings(n_ctx=4096), gpu_free=1 * GiB + GiB // 2, margin=0)
    assert 0 < result.n_gpu_layers < qwen.n_layer + 1
    assert result.n_cpu_moe == qwen.n_layer


def test_auto_on_a_big_card_puts_everything_on_it(oss: ModelInfo) -> None:
    result = fit(oss, LoadSettings(n_ctx=4096), gpu_free=24 * GiB, margin=GiB)
    assert result.full_offload and result.n_cpu_moe == 0
    assert result.choice() == "25 of 25 layers"


def test_the_load_rule_and_the_verdict_say_experts_on_the_cpu(qwen: ModelInfo) -> None:
    card = custom_card(8 * GiB)
    settings = Settings()
    chosen = settings_for(qwen, "/models/qwen3.gguf", settings, gpu=card)
    expected = fit(
        qwen, chosen, gpu_free=card.usable_bytes, margin=settings.gpu_safety_margin_bytes
    )
    assert chosen.n_gpu_layers == qwen.n_layer + 1
    assert chosen.n_cpu_moe == expected.n_cpu_moe > 0
    words = FitInputs(card, LoadDefaults(), settings.gpu_safety_margin_bytes, 64 * GiB).words(qwen)
    assert words.kind == "partial"
    assert (
        words.text == f"Partial: 49 of 49 layers, experts of {chosen.n_cpu_moe} layers on the CPU"
    )
    verdict = judge(
        estimate(qwen, chosen, [GpuTarget(card.name)]), gpu_free=card.usable_bytes, margin=0
    )
    assert f"(the experts of {chosen.n_cpu_moe} layers in system RAM)" in verdict.detail


def test_expert_layers_are_remembered_per_model() -> None:
    settings = LoadSettings(n_gpu_layers=49, n_cpu_moe=30)
    saved = to_remembered(settings, gpu=None)
    assert saved.n_cpu_moe == 30
    assert from_remembered(saved, LoadSettings()).n_cpu_moe == 30


def test_two_gpus_each_keep_their_margin(qwen: ModelInfo) -> None:
    margin = GiB // 2
    result = fit(qwen, LoadSettings(n_ctx=4096), gpu_free=[12 * GiB, 8 * GiB], margin=margin)
    free = [12 * GiB, 8 * GiB]
    assert [d.name for d in result.plan.gpus] == ["GPU 0", "GPU 1"]
    assert all(d.total <= f - margin for d, f in zip(result.plan.gpus, free, strict=True))
    assert (
        result.all_layers
        and result.n_cpu_moe
        < fit(qwen, LoadSettings(n_ctx=4096), gpu_free=8 * GiB, margin=margin).n_cpu_moe
    )


def test_after_running_out_of_memory_more_experts_go_to_ram_before_layers() -> None:
    settings = LoadSettings(n_gpu_layers=49, n_cpu_moe=30)
    label, lighter = lighter_settings(settings, n_layer=48, n_ctx_train=40960, n_expert=128)  # type: ignore[misc]
    assert label == "Try with the experts of 42 layers on the CPU"
    assert lighter == settings.with_changes(n_cpu_moe=42)
    label, fewer = lighter_settings(  # type: ignore[misc]
        settings.with_changes(n_cpu_moe=48), n_layer=48, n_ctx_train=40960, n_expert=128
    )
    assert fewer.n_gpu_layers < 49 and label.startswith("Try with ")


def test_architectures_not_modelled_exactly_say_approximate(
    tmp_path: Path, qwen: ModelInfo
) -> None:
    mla = replace(QWEN3_30B_A3B, arch="minicpm3", name="MiniCPM3 shape")
    model = read_model(write_shaped(tmp_path / "mla.gguf", mla, "Q4_K_M")[0])
    plan = estimate(model, LoadSettings(n_ctx=4096, n_gpu_layers=10), GPU)
    assert plan.approximate == "approximate for this architecture (minicpm3: MLA attention)"
    verdict = judge(plan, gpu_free=64 * GiB, margin=GiB)
    assert verdict.headline.startswith("≈ Fits")
    assert verdict.detail.endswith("Approximate for this architecture (minicpm3: MLA attention).")
    card = custom_card(8 * GiB)
    words = FitInputs(card, LoadDefaults(), GiB, 64 * GiB).words(model)
    assert words.text.endswith("(≈)") and "Approximate for this architecture" in words.detail
    assert estimate(qwen, LoadSettings(), GPU).approximate == ""
    exact = judge(estimate(qwen, LoadSettings(), GPU), gpu_free=None, margin=0)
    assert exact.headline == "Runs on the CPU"


def test_the_high_level_llama_keywords_refuse_experts_on_the_cpu() -> None:
    assert "n_gpu_layers" in LoadSettings().to_llama_kwargs()
    with pytest.raises(ValueError, match="cannot keep experts on the CPU"):
        LoadSettings(n_cpu_moe=4).to_llama_kwargs()
