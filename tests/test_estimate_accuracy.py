"""The estimate against what llama.cpp itself allocates: SmolLM2, and 8B/3B/0.5B shapes.

Each point loads the model with llama-cpp-python and reads the buffer sizes
from llama.cpp's log. The GPU column is checked on a loopback RPC server that
llama.cpp treats as an offload device (this machine has no GPU).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shaped_models import write_loadable

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
