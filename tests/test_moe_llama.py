"""Experts on the CPU reach llama.cpp: its own log says where the expert tensors went.

A tiny Qwen3-MoE-shaped file (real header, zero weights) is loaded by the engine with the
experts of its first layers overridden to the CPU, and generates; the Qwen3-30B-A3B shape is
loaded with layers on a loopback RPC device standing in for a GPU, and llama.cpp's buffers
are set beside the estimate (bench/estimate_accuracy.py --moe runs the whole grid).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shaped_models import QWEN3_30B_A3B, TINY_MOE, write_shaped

from lmdesk.core.engine import Engine
from lmdesk.core.engine.chunks import ReplyStats
from lmdesk.core.engine.llama_log import capture
from lmdesk.core.gguf import read_model
from lmdesk.core.llama_memory import Row, RpcServer, compare
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings

OVERRIDDEN = re.compile(r"tensor (blk\.(\d+)\.ffn_\w+_exps\.\w+) .*buffer type overridden to CPU")


def test_the_engine_keeps_the_first_layers_experts_on_the_cpu_and_still_generates(
    tmp_path: Path,
) -> None:
    path = write_shaped(tmp_path / "tiny-moe.gguf", TINY_MOE, "Q8_0", loadable=True)[0]
    engine = Engine()
    try:
        with capture() as log:
            engine.load(path, LoadSettings(n_ctx=512, n_gpu_layers=-1, n_cpu_moe=2))
        moved = {(m.group(1), int(m.group(2))) for m in OVERRIDDEN.finditer(log.text())}
        assert {layer for _, layer in moved} == {0, 1}
        assert {name.split(".", 2)[2] for name, _ in moved} == {
            "ffn_gate_exps.weight",
            "ffn_up_exps.weight",
            "ffn_down_exps.weight",
        }
        sampling = SamplingSettings(temperature=0.0, max_tokens=4)
        stats = list(engine.complete("tok7 tok9", sampling))[-1]
        assert isinstance(stats, ReplyStats)
        assert stats.generated_tokens >= 1 and stats.stop_reason in ("max_tokens", "eos")
    finally:
        engine.close()


@pytest.fixture(scope="module")
def qwen3_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("qwen3")
    return write_shaped(folder / "qwen3.gguf", QWEN3_30B_A3B, "Q4_K_M", loadable=True)[0]


BARS = {"weights": 0.005, "kv_cache": 0.005, "compute": 0.05, "total": 0.02}


def _check(rows: list[Row]) -> None:
    for row in rows:
        if row.component in BARS:
            assert abs(row.error) <= BARS[row.component], row


@pytest.mark.parametrize(
    ("n_gpu_layers", "n_cpu_moe", "moved"),
    [(49, 48, 48), (49, 46, 46), (24, 48, 23)],  # 24 GPU layers: the output + 23 blocks
    ids=["all-layers-all-experts-in-ram", "experts-of-two-layers-on-gpu", "half-the-layers"],
)
def test_experts_in_ram_match_llama_cpp_over_rpc(
    qwen3_path: Path, n_gpu_layers: int, n_cpu_moe: int, moved: int
) -> None:
    model = read_model(qwen3_path)
    settings = LoadSettings(
        n_ctx=4096, n_gpu_layers=n_gpu_layers, n_cpu_moe=n_cpu_moe, flash_attn=False
    )
    with RpcServer() as server:
        plan, rows = compare(model, qwen3_path, settings, device=server.device, extra_buffers=False)
    _check(rows)
    gpu = {r.component: r.actual for r in rows if r.device == "GPU"}
    cpu = {r.component: r.actual for r in rows if r.device == "CPU"}
    assert gpu["weights"] < 2 * 1024**3  # the experts (17 GiB) did not go to the device
    assert cpu["compute"] > 0 and plan.experts_on_cpu == moved
