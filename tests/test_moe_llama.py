"""Experts on the CPU reach llama.cpp: its own log says where the expert tensors went.

A tiny Qwen3-MoE-shaped file (real header, zero weights) is loaded by the engine with the
experts of its first layers overridden to the CPU, and generates. The gpt-oss-20b shape is
loaded with layers on a loopback RPC device standing in for a GPU, and llama.cpp's buffers
are set beside the estimate (bench/estimate_accuracy.py --moe --split runs the whole grid,
Qwen3-30B-A3B too).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from shaped_models import TINY_MOE, write_loadable, write_shaped

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
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_loadable(tmp_path_factory.mktemp("moe"), ["gpt-oss-20b"])


BARS = {"weights": 0.005, "kv_cache": 0.005, "compute": 0.05, "total": 0.02}


def _check(rows: list[Row]) -> None:
    for row in rows:
        if row.component in BARS:
            assert abs(row.error) <= BARS[row.component], row


@pytest.mark.parametrize(
    ("shape", "n_gpu_layers", "n_cpu_moe", "moved", "flash", "extra"),
    [
        ("gpt-oss-20b", 25, 23, 23, False, False),  # the last layer's experts on the device
        ("gpt-oss-20b", 25, 24, 24, True, False),  # all experts in RAM
        ("gpt-oss-20b", 12, 24, 11, True, False),  # 12 GPU layers: the output + 11 blocks
        ("gpt-oss-20b", 0, 12, 0, False, True),  # overridden experts are never repacked
    ],
    ids=["one-layers-experts-on-gpu", "all-experts-in-ram", "half-the-layers", "no-repack"],
)
def test_experts_in_ram_match_llama_cpp_over_rpc(
    shapes: dict[str, Path],
    shape: str,
    n_gpu_layers: int,
    n_cpu_moe: int,
    moved: int,
    flash: bool,
    extra: bool,
) -> None:
    path = shapes[shape]
    model = read_model(path)
    settings = LoadSettings(
        n_ctx=4096, n_gpu_layers=n_gpu_layers, n_cpu_moe=n_cpu_moe, flash_attn=flash
    )
    with RpcServer() as server:
        plan, rows = compare(model, path, settings, device=server.device, extra_buffers=extra)
    _check(rows)
    gpu = {r.component: r.actual for r in rows if r.device == "GPU"}
    cpu = {r.component: r.actual for r in rows if r.device == "CPU"}
    assert gpu["weights"] < 2 * 1024**3  # the experts (10-17 GiB) did not go to the device
    assert cpu["compute"] > 0 and plan.experts_on_cpu == moved
    if extra and plan.cpu.repack:  # a CPU with repack kernels: half the experts kept theirs
        assert cpu["repack"] == pytest.approx(plan.cpu.repack, rel=0.005)
