"""The engine and the split mode / main GPU: what reaches llama.cpp's params, and what the
bundled llama.cpp really does with them, on the CPU and on a real `lmdesk worker` over
loopback RPC (the stand-in for a GPU on these machines)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest
from rpc_peers import running_workers
from test_rpc_split import by_endpoint, load_and_reply, reply

from lmdesk.core.engine import Engine, EngineError, llama_log
from lmdesk.core.engine.loader import model_params
from lmdesk.core.engine.native import ensure_backend
from lmdesk.core.engine.rpc_devices import device_array
from lmdesk.core.engine.split_check import default_devices, has_split_buffers
from lmdesk.core.estimate import estimate, remote_devices
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings


@pytest.mark.parametrize(
    ("mode", "main", "native"),
    [
        ("layer", 0, llama_cpp.LLAMA_SPLIT_MODE_LAYER),
        ("row", 0, llama_cpp.LLAMA_SPLIT_MODE_ROW),
        ("none", 0, llama_cpp.LLAMA_SPLIT_MODE_NONE),
    ],
)
def test_the_params_carry_the_split_mode_and_main_gpu(mode: str, main: int, native: int) -> None:
    params, _keep = model_params(LoadSettings(split_mode=mode, main_gpu=main))
    assert (params.split_mode, params.main_gpu) == (native, main)


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[str, ...]]:
    with running_workers(2) as endpoints:
        yield endpoints


def test_row_on_the_cpu_alone_loads_and_replies(smollm2_path: Path) -> None:
    # No GPU device: llama.cpp never builds a split buffer list, so row changes nothing.
    if default_devices():
        pytest.skip("an earlier test registered an RPC worker in this process")
    engine = Engine()
    try:
        engine.load(smollm2_path, LoadSettings(n_ctx=512, n_threads=1, split_mode="row"))
        assert reply(engine).strip()
    finally:
        engine.close()


def test_a_main_gpu_that_does_not_exist_is_one_message_and_nothing_loads(
    smollm2_path: Path,
) -> None:
    engine = Engine()
    with pytest.raises(EngineError, match="There is no GPU 1 to be the main GPU"):
        engine.load(smollm2_path, LoadSettings(n_ctx=512, split_mode="none", main_gpu=1))
    assert not engine.loaded


def test_llama_cpp_refuses_row_on_an_rpc_device_and_the_engine_says_why_first(
    smollm2_path: Path, workers: tuple[str, str]
) -> None:
    worker = workers[0]
    # What llama.cpp itself does, with lmdesk's check out of the way: NULL and its log line.
    ensure_backend()
    devices = device_array((worker,))
    handles = [d for d in devices if d]
    assert len(handles) == 1 and not has_split_buffers(handles[0])
    params = llama_cpp.llama_model_default_params()
    params.devices = ctypes.cast(devices, ctypes.c_void_p)
    params.split_mode = llama_cpp.LLAMA_SPLIT_MODE_ROW
    params.n_gpu_layers = 5
    with llama_log.capture() as log:
        model = llama_cpp.llama_model_load_from_file(str(smollm2_path).encode(), params)
    assert model is None
    assert "does not support split buffers" in log.text()
    # lmdesk's engine refuses before llama.cpp, in words, naming the device.
    engine = Engine()
    settings = LoadSettings(n_gpu_layers=5, n_ctx=512, n_threads=1, rpc=(worker,))
    with pytest.raises(
        EngineError, match=r"Split by row needs llama.cpp's split buffers, which RPC"
    ):
        engine.load(smollm2_path, settings.with_changes(split_mode="row"))
    assert not engine.loaded
    with pytest.raises(EngineError, match=r"no GPU 1 to be the main GPU: llama.cpp has 1 \(0: RPC"):
        engine.load(smollm2_path, settings.with_changes(split_mode="none", main_gpu=1))
    # Main GPU only, on the one device there is: every offloaded layer's buffers on it.
    try:
        report = engine.load(
            smollm2_path, settings.with_changes(split_mode="none", n_gpu_layers=-1)
        )
        on_worker = [line for line in report.allocations if f"[{worker}]" in line]
        assert any("model buffer size" in line for line in on_worker)
        assert any("KV buffer size" in line for line in on_worker)
        assert reply(engine).strip()
    finally:
        engine.close()


def test_main_gpu_only_matches_what_llama_cpp_allocates_on_the_main_device(
    smollm2_path: Path, workers: tuple[str, str]
) -> None:
    # Two workers stand in for two GPUs; "none" with main GPU 1 keeps the second alone.
    settings = LoadSettings(
        n_gpu_layers=-1, n_ctx=1024, n_threads=1, flash_attn=False, rpc=workers,
        split_mode="none", main_gpu=1,
    )  # fmt: skip
    plan = estimate(
        read_model(smollm2_path), settings, [d.target() for d in remote_devices(workers)]
    )
    assert plan.gpus[0].total == 0 and len(plan.gpus[1].layers) == 31
    log, answer = load_and_reply(smollm2_path, settings)
    assert answer.strip()
    assert not [name for name in log if f"[{workers[0]}]" in name]  # nothing on the idle one
    got = by_endpoint(log, workers[1])
    main = plan.gpus[1]
    assert got.weights == pytest.approx(main.weights, rel=0.005)
    assert got.kv_cache == pytest.approx(main.kv_cache, rel=0.005)
    assert got.compute == pytest.approx(main.compute, rel=0.05)
