"""A model split over the CPU and two real `lmdesk worker` processes on 127.0.0.1: the
estimator's plan per device against what llama.cpp logs, the same greedy reply as a
local-only load, and `lmdesk estimate/fit --rpc` with its bad inputs."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_peers import LMDESK, free_port, garbage_peer, running_workers, start_worker

from lmdesk.core.engine import Engine, EngineError, TextChunk
from lmdesk.core.estimate import estimate, remote_devices
from lmdesk.core.gguf import read_model
from lmdesk.core.llama_memory.log import Buffers, parse_buffer_log
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings

GREEDY = SamplingSettings(temperature=0, max_tokens=24)


@pytest.fixture(scope="module")
def workers() -> Iterator[tuple[str, ...]]:
    with running_workers(2) as endpoints:
        yield endpoints


def reply(engine: Engine) -> str:
    chunks = engine.complete("The three primary colours are", GREEDY)
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def load_and_reply(path: Path, settings: LoadSettings) -> tuple[dict[str, Buffers], str]:
    """Load with `settings`: llama.cpp's logged buffers and a greedy reply (then unload)."""
    engine = Engine()
    try:
        report = engine.load(path, settings)
        return parse_buffer_log("\n".join(report.allocations)), reply(engine)
    finally:
        engine.close()


def by_endpoint(log: dict[str, Buffers], endpoint: str) -> Buffers:
    return next(b for name, b in log.items() if f"[{endpoint}]" in name)


@pytest.mark.parametrize("split", [(1.0, 2.0), None])
def test_a_split_over_the_cpu_and_two_workers_is_what_the_plan_says(
    smollm2_path: Path, workers: tuple[str, str], split: tuple[float, ...] | None
) -> None:
    # 21 of 31 layers off the CPU; flash attention off (see docs/scale-out.md for the
    # CPU's compute buffer with it on). None splits by the workers' free memory.
    settings = LoadSettings(
        n_gpu_layers=21, n_ctx=1024, n_threads=1, flash_attn=False, tensor_split=split, rpc=workers
    )
    model = read_model(smollm2_path)
    devices = remote_devices(workers)
    assert [d.endpoint for d in devices] == list(workers)
    plan = estimate(model, settings, [d.target() for d in devices])
    assert all(p.layers for p in plan.devices)  # every device holds layers
    log, split_reply = load_and_reply(smollm2_path, settings)
    actual = [log["CPU"], by_endpoint(log, workers[0]), by_endpoint(log, workers[1])]
    for planned, got in zip(plan.devices, actual, strict=True):
        assert got.weights == pytest.approx(planned.weights + planned.repack, rel=0.005)
        assert got.kv_cache == pytest.approx(planned.kv_cache, rel=0.005)
        assert got.compute == pytest.approx(planned.compute, rel=0.05)
    assert actual[1].kv_cache and actual[2].kv_cache

    local = Engine()
    try:
        local.load(smollm2_path, settings.with_changes(rpc=(), tensor_split=None, n_gpu_layers=0))
        assert split_reply == reply(local) and split_reply.strip()
    finally:
        local.close()


def test_a_load_naming_a_worker_that_is_gone_says_so_and_the_process_goes_on(
    smollm2_path: Path,
) -> None:
    gone = f"127.0.0.1:{free_port()}"
    engine = Engine()
    with pytest.raises(EngineError, match=f"worker {gone} cannot be used"):
        engine.load(smollm2_path, LoadSettings(n_gpu_layers=5, n_ctx=512, rpc=(gone,)))
    assert not engine.loaded


def test_load_settings_refuse_an_address_that_is_not_one() -> None:
    with pytest.raises(ValueError, match=r"not a port"):
        LoadSettings(rpc=("127.0.0.1:99999",))
    with pytest.raises(ValueError, match="named twice"):
        LoadSettings(rpc=("127.0.0.1:5000", "127.0.0.1:5000"))


def lmdesk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LMDESK, *args], capture_output=True, text=True, timeout=timeout)


def test_estimate_and_fit_plan_over_the_workers(
    smollm2_path: Path, workers: tuple[str, str]
) -> None:
    rpc = ",".join(workers)
    common = ["--vram", "1GiB", "--rpc", rpc, "--ctx", "1024", "--json"]
    done = lmdesk("estimate", str(smollm2_path), "--tensor-split", "0,1,1", *common)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    names = [d["name"] for d in facts["devices"]]
    assert names[2:] == [f"RPC0@{workers[0]}", f"RPC0@{workers[1]}"]
    assert facts["devices"][1]["layers"] == []  # the local GPU's share is 0
    assert all(d["layers"] and d["overhead"] == 0 for d in facts["devices"][2:])
    assert facts["settings"]["rpc"] == list(workers)
    fitted = lmdesk("fit", str(smollm2_path), *common, "--margin", "256MiB")
    assert fitted.returncode == 0, fitted.stderr
    assert json.loads(fitted.stdout)["n_gpu_layers"] == 31  # the workers have RAM to spare


def test_bad_workers_are_one_line_and_status_2(
    smollm2_path: Path, workers: tuple[str, str]
) -> None:
    model = str(smollm2_path)
    gone = f"127.0.0.1:{free_port()}"
    server, garbage = garbage_peer()
    try:
        cases = {
            "127.0.0.1:notaport": "not a port",
            "": "host:port",
            gone: f"no worker answers at {gone}",
            garbage: f"{garbage} is not a llama.cpp RPC worker",
        }
        for address, message in cases.items():
            done = lmdesk("estimate", model, "--rpc", address or " ", timeout=30)
            assert done.returncode == 2 and done.stderr.count("\n") == 1, (address, done.stderr)
            assert message in done.stderr and "Traceback" not in done.stderr
    finally:
        server.close()
    too_long = lmdesk("fit", model, "--rpc", ",".join(workers), "--tensor-split", "1,1,1")
    assert too_long.returncode == 2 and too_long.stderr.count("\n") == 1
    assert "names 3 GPUs, but there are 2" in too_long.stderr


def test_a_worker_killed_mid_reply_is_a_clear_error_and_a_reload_without_it_works(
    smollm2_path: Path,
) -> None:
    from lmdesk.core.engine import GenerationError
    from lmdesk.core.engine.isolated import IsolatedEngine

    (first, first_at), (second, second_at) = start_worker(), start_worker()
    settings = LoadSettings(
        n_gpu_layers=21, n_ctx=1024, n_threads=1, tensor_split=(1.0, 1.0),
        rpc=(first_at, second_at),
    )  # fmt: skip
    engine = IsolatedEngine()
    try:
        engine.load(smollm2_path, settings)
        chunks = engine.complete(
            "Once upon a time", SamplingSettings(temperature=0, max_tokens=900)
        )
        got = 0
        with pytest.raises(GenerationError, match=second_at) as caught:
            for chunk in chunks:
                got += isinstance(chunk, TextChunk)
                if got == 5:
                    second.kill()
                    killed_at = time.monotonic()
        assert time.monotonic() - killed_at < 10 and "went away" in str(caught.value)
        assert not engine.alive
    finally:
        engine.close()
        second.wait(10)
    again = IsolatedEngine()
    try:
        again.load(smollm2_path, settings.with_changes(rpc=(first_at,), tensor_split=None))
        text = "".join(c.text for c in again.complete("Hello", GREEDY) if isinstance(c, TextChunk))
        assert text.strip()
    finally:
        again.close()
        first.kill()
        first.wait(10)
