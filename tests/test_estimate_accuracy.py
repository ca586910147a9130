"""The estimate against what llama.cpp itself allocates: SmolLM2, and 8B/3B/0.5B shapes.

Each point loads the model with llama-cpp-python and reads the buffer sizes
from llama.cpp's log. The GPU column is checked on a loopback RPC server that
llama.cpp treats as an offload device (this machine has no GPU).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gguf_bytes import header, kv_str, kv_u32, tensor_info
from shaped_models import write_loadable

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.estimate.layer_kinds import recurrent_state_bytes
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.llama_memory import Row, RpcServer, compare
from lmdesk.core.load_settings import LoadSettings

BARS = {"weights": 0.005, "repack": 0.005, "kv_cache": 0.005, "compute": 0.05, "total": 0.02}


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


def _check(rows: list[Row], bars: dict[str, float], device: str | None = None) -> None:
    for row in rows:
        if row.component in bars and (device is None or row.device == device):
            assert abs(row.error) <= bars[row.component], row


@pytest.mark.parametrize(
    "settings",
    [
        LoadSettings(n_ctx=512, n_ubatch=128, flash_attn=False),
        LoadSettings(n_ctx=2048, n_ubatch=512, flash_attn=False),
        LoadSettings(n_ctx=8192, n_ubatch=512, flash_attn=False),
        LoadSettings(n_ctx=8192, n_ubatch=512, flash_attn=True, type_k="q8_0", type_v="q8_0"),
    ],
    ids=lambda s: f"ctx{s.n_ctx}-ub{s.n_ubatch}-{s.type_k}",
)
def test_cpu_plan_matches_llama_cpp(
    smol: ModelInfo, smollm2_path: Path, settings: LoadSettings
) -> None:
    _, rows = compare(smol, smollm2_path, settings)
    _check(rows, BARS)
    actual = {r.component: r.actual for r in rows}
    assert actual["kv_cache"] > 0 and actual["compute"] > 0  # the log was really read


def test_without_cpu_weight_copies_as_the_engine_loads_on_amx_machines(
    smol: ModelInfo, smollm2_path: Path
) -> None:
    settings = LoadSettings(n_ctx=2048, flash_attn=False)
    _, rows = compare(smol, smollm2_path, settings, extra_buffers=False)
    _check(rows, BARS)
    assert next(r for r in rows if r.component == "repack").actual == 0


@pytest.fixture(scope="module")
def rpc_device() -> int:
    with RpcServer() as server:
        assert server.device is not None
        yield server.device  # type: ignore[misc]


@pytest.mark.parametrize("n_gpu_layers", [1, 15, 31])
def test_gpu_split_matches_llama_cpp_over_rpc(
    smol: ModelInfo, smollm2_path: Path, rpc_device: int, n_gpu_layers: int
) -> None:
    settings = LoadSettings(n_ctx=2048, n_gpu_layers=n_gpu_layers, flash_attn=False)
    _, rows = compare(smol, smollm2_path, settings, device=rpc_device)
    _check(rows, {"weights": 0.01, "kv_cache": 0.01}, device="GPU")
    gpu = {r.component: r.actual for r in rows if r.device == "GPU"}
    assert gpu["weights"] > 0
    assert (gpu["kv_cache"] > 0) == (n_gpu_layers > 1)


# -- real sizes: files shaped like real models, which llama.cpp loads for real ---------------
# tests/shaped_models.py writes the real header of each (tokenizer included) over all-zero
# weights in a sparse file: llama.cpp loads it and allocates exactly what it would for the
# real model. CPU weight copies are off (as the engine loads on AMX machines) to keep the
# 4.8 GiB 8B file quick to load.
SHAPED_BARS = BARS | {"compute": 0.06}
"""On the CPU the logits tensor lands wherever llama.cpp's allocator finds room; on the
3B shape that moves the compute peak by up to 6 % (34 MiB) either way of the estimate."""


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_loadable(tmp_path_factory.mktemp("shaped"))


@pytest.mark.parametrize(
    ("key", "settings"),
    [
        ("llama-3.1-8b", LoadSettings(n_ctx=8192, flash_attn=False)),
        ("llama-3.1-8b", LoadSettings(n_ctx=4096, flash_attn=True, type_k="q8_0", type_v="q8_0")),
        ("llama-3.2-3b", LoadSettings(n_ctx=4096, flash_attn=True, type_k="q8_0", type_v="q8_0")),
        ("qwen2.5-0.5b", LoadSettings(n_ctx=8192, n_ubatch=128, flash_attn=False)),
    ],
    ids=lambda v: v if isinstance(v, str) else f"ctx{v.n_ctx}-ub{v.n_ubatch}-{v.type_k}",
)
def test_cpu_plan_matches_llama_cpp_at_real_sizes(
    shaped: dict[str, Path], key: str, settings: LoadSettings
) -> None:
    model = read_model(shaped[key])
    _, rows = compare(model, shaped[key], settings, extra_buffers=False)
    _check(rows, SHAPED_BARS)
    actual = {r.component: r.actual for r in rows}
    assert actual["weights"] > 400 * 2**20 and actual["kv_cache"] > 0


@pytest.mark.parametrize(
    ("key", "n_gpu_layers"),
    [("llama-3.1-8b", 1), ("llama-3.1-8b", 17), ("llama-3.2-3b", 29), ("qwen2.5-0.5b", 12)],
)
def test_gpu_plan_matches_llama_cpp_at_real_sizes_over_rpc(
    shaped: dict[str, Path], rpc_device: int, key: str, n_gpu_layers: int
) -> None:
    model = read_model(shaped[key])
    settings = LoadSettings(n_ctx=4096, n_gpu_layers=n_gpu_layers, flash_attn=False)
    _, rows = compare(model, shaped[key], settings, device=rpc_device, extra_buffers=False)
    _check(rows, {"weights": 0.01, "kv_cache": 0.01, "compute": 0.05, "total": 0.02}, "GPU")
    gpu = {r.component: r.actual for r in rows if r.device == "GPU"}
    assert gpu["weights"] > 0 and gpu["compute"] > 0
    assert (gpu["kv_cache"] > 0) == (n_gpu_layers > 1)


# -- multi-head latent attention, a hybrid recurrent model, and two devices -----------------
# DeepSeek-V2-Lite's shape caches the latent as K and no V; LFM2 1.2B keeps a short-convolution
# state in 10 of its 16 blocks and a KV cache in the other 6. Both load for real.


@pytest.fixture(scope="module")
def arch_shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_loadable(tmp_path_factory.mktemp("arch"), ["deepseek-v2-lite", "lfm2-1.2b"])


def test_mla_caches_the_latent_as_k_only_and_its_plan_matches_llama_cpp(
    arch_shapes: dict[str, Path],
) -> None:
    path = arch_shapes["deepseek-v2-lite"]
    model = read_model(path)
    settings = LoadSettings(n_ctx=4096, flash_attn=True, type_k="q8_0", type_v="q8_0")
    plan, rows = compare(model, path, settings, extra_buffers=False)
    _check(rows, BARS)
    actual = {r.component: r.actual for r in rows}
    # 27 layers x 4096 cells x (kv_lora_rank 512 + rope 64) in q8_0 (34 bytes per 32): no V
    assert actual["kv_cache"] == pytest.approx(27 * 4096 * 576 // 32 * 34, abs=10 * 1024)
    assert plan.approximate == ""  # exact since its KV and compute are modelled


def test_mla_with_its_output_layer_on_an_rpc_device(
    arch_shapes: dict[str, Path], rpc_device: int
) -> None:
    path = arch_shapes["deepseek-v2-lite"]
    settings = LoadSettings(n_ctx=2048, n_gpu_layers=1, flash_attn=False)
    _, rows = compare(read_model(path), path, settings, device=rpc_device, extra_buffers=False)
    _check(rows, BARS)
    gpu = {r.component: r.actual for r in rows if r.device == "GPU"}
    assert gpu["weights"] > 100 * 2**20 and gpu["kv_cache"] == 0


@pytest.mark.parametrize(
    ("n_gpu_layers", "settings"),
    [
        (0, LoadSettings(n_ctx=8192, flash_attn=False)),
        (0, LoadSettings(n_ctx=2048, n_ubatch=128, flash_attn=True, type_k="q8_0", type_v="q8_0")),
        (8, LoadSettings(n_ctx=4096, flash_attn=False)),
        (17, LoadSettings(n_ctx=4096, flash_attn=True, type_k="q8_0", type_v="q8_0")),
    ],
    ids=["cpu-8192", "cpu-2048-q8", "rpc-8-layers", "rpc-all-q8"],
)
def test_hybrid_lfm2_state_and_kv_match_llama_cpp(
    arch_shapes: dict[str, Path], rpc_device: int, n_gpu_layers: int, settings: LoadSettings
) -> None:
    path = arch_shapes["lfm2-1.2b"]
    model = read_model(path)
    settings = settings.with_changes(n_gpu_layers=n_gpu_layers)
    plan, rows = compare(
        model, path, settings, device=rpc_device if n_gpu_layers else None, extra_buffers=False
    )
    _check(rows, BARS)
    assert plan.approximate == ""
    kv = sum(r.actual for r in rows if r.component == "kv_cache")
    k_type = 34 / 32 if settings.type_k == "q8_0" else 2
    attention = round(6 * settings.n_ctx * 2 * 512 * k_type)  # 6 attention blocks, 8 x 64 wide
    state = 10 * 2 * 2048 * 4  # 10 convolution blocks: (l_cache - 1) x n_embd, f32
    assert kv == pytest.approx(attention + state, abs=10 * 1024)  # the log's 0.01 MiB


@pytest.fixture(scope="module")
def two_servers() -> tuple[RpcServer, RpcServer]:
    with RpcServer() as first, RpcServer() as second:
        yield first, second  # type: ignore[misc]


@pytest.mark.parametrize(
    "settings",
    [
        LoadSettings(n_ctx=4096, n_gpu_layers=31, tensor_split=(1.0, 1.0), flash_attn=False),
        LoadSettings(n_ctx=4096, n_gpu_layers=31, tensor_split=(2.0, 1.0), flash_attn=True),
        LoadSettings(n_ctx=2048, n_gpu_layers=16, tensor_split=(2.0, 1.0), flash_attn=False),
    ],
    ids=["all-1:1", "all-2:1-flash", "half-2:1"],
)
def test_a_split_over_two_rpc_devices_matches_llama_cpp_per_device(
    smol: ModelInfo,
    smollm2_path: Path,
    two_servers: tuple[RpcServer, RpcServer],
    settings: LoadSettings,
) -> None:
    plan, rows = compare(smol, smollm2_path, settings, servers=two_servers)
    _check(rows, BARS)
    weights = [r.actual for r in rows if r.component == "weights"]
    assert all(w > 0 for w in weights) and len(weights) == 3  # the CPU and both devices
    kv = {r.device: r.actual for r in rows if r.component == "kv_cache"}
    share = settings.tensor_split[0] / sum(settings.tensor_split)  # type: ignore[index]
    assert kv["GPU0"] / (kv["GPU0"] + kv["GPU1"]) == pytest.approx(share, abs=0.1)
    if settings.n_gpu_layers == 31:  # every layer on the devices: pipelined, 4 graph copies
        cpu_compute = next(r.actual for r in rows if r.device == "CPU" and r.component == "compute")
        mask = settings.n_ctx * settings.n_ubatch * (2 if settings.flash_attn else 4)
        assert cpu_compute > 4 * mask  # the CPU holds the mask once per copy
    assert [d.name for d in plan.gpus] == ["GPU 0", "GPU 1"]


def test_a_mamba2_layer_keeps_its_conv_and_scan_state_per_sequence(tmp_path: Path) -> None:
    # Granite-4.0-H-like block: d_conv 4, d_inner 4096, one group, d_state 128 (only the
    # formula from llama-hparams.cpp is checked here; this llama.cpp is not loaded).
    f32 = 0
    tensors = [
        tensor_info("token_embd.weight", (64, 32), f32, 0),
        tensor_info("blk.0.ssm_conv1d.weight", (4, 4096 + 2 * 128), f32, 8192),
        tensor_info("blk.0.ssm_out.weight", (4096, 64), f32, 8192 + 69632),
        tensor_info("blk.0.ssm_norm.weight", (4096, 1), f32, 8192 + 69632 + 1048576),
        tensor_info("blk.1.attn_q.weight", (64, 64), f32, 8192 + 69632 + 1048576 + 16384),
    ]
    kvs = [
        kv_str("general.architecture", "granitehybrid"),
        kv_u32("granitehybrid.block_count", 2),
        kv_u32("granitehybrid.embedding_length", 64),
        kv_u32("granitehybrid.attention.head_count", 4),
    ]
    path = tmp_path / "mamba2.gguf"
    path.write_bytes(header(kvs, tensors))
    model = read_model(path)
    conv, scan = 3 * (4096 + 2 * 128), 128 * 4096
    assert recurrent_state_bytes(model) == ((conv + scan) * 4, 0)


def test_pipelining_over_two_gpus_is_planned_only_with_every_layer_on_them(smol: ModelInfo) -> None:
    gpus = [GpuTarget("GPU 0", overhead=0), GpuTarget("GPU 1", overhead=0)]
    settings = LoadSettings(n_ctx=2048, flash_attn=False)
    full = estimate(smol, settings.with_changes(n_gpu_layers=31), gpus)
    one_gpu = estimate(smol, settings.with_changes(n_gpu_layers=31), gpus[:1])
    mask, row, kv_rows = 2048 * 512 * 4, 576 * 512 * 4, 384 * 512 * 4
    assert one_gpu.cpu.compute == mask + 2 * row + kv_rows
    assert full.cpu.compute == 4 * (mask + row + kv_rows) + row  # four copies of the inputs
    partial = estimate(smol, settings.with_changes(n_gpu_layers=30), gpus)
    assert partial.gpus[0].compute < full.gpus[0].compute
    by_row = estimate(smol, settings.with_changes(n_gpu_layers=31, split_mode="row"), gpus)
    assert by_row.cpu.compute == one_gpu.cpu.compute  # llama.cpp pipelines layer splits only
