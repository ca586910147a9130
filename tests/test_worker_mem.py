"""`lmdesk worker --mem`: a worker that advertises less memory than its device has. Real
`lmdesk worker` processes on 127.0.0.1, lmdesk's RPC probe, the estimator, and a real
llama.cpp load that splits by the workers' free memory."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_peers import LMDESK, free_port
from test_rpc_split import load_and_reply, reply

from lmdesk.core.engine import Engine
from lmdesk.core.estimate import estimate, remote_devices
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.rpc_worker import local_devices, probe
from lmdesk.core.units import GiB, MiB


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """A real `lmdesk worker` with ``args`` on a free loopback port; its first stdout line."""
    process = subprocess.Popen(
        [*LMDESK, "worker", "--port", str(free_port()), "--threads", "1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline()


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(10)


@pytest.fixture(scope="module")
def capped() -> Iterator[tuple[str, str, str]]:
    """Two workers, ``--mem 1GiB`` (its plain startup line) and ``--mem 3GiB`` (JSON):
    (the 1 GiB worker's line, its host:port, the 3 GiB worker's host:port)."""
    one, line = start("--mem", "1GiB")
    three, facts = start("--mem", "3GiB", "--json")
    try:
        match = re.search(r"on (127\.0\.0\.1:\d+):", line)
        assert match, line
        yield line, match.group(1), str(json.loads(facts)["endpoint"])
    finally:
        stop(one)
        stop(three)


def test_the_worker_advertises_the_cap_to_its_clients(capped: tuple[str, str, str]) -> None:
    line, one, three = capped
    real = local_devices()[0][0].total_bytes
    assert real > 3 * GiB  # else this machine cannot show a cap
    assert re.search(r"CPU: 1\.0 GiB advertised of \d+\.\d GiB", line), line
    assert f"of {real / GiB:.1f} GiB" in line
    for endpoint, cap in ((one, GiB), (three, 3 * GiB)):
        (device,) = probe(endpoint)  # llama.cpp's RPC client, as the app asks
        assert device.total_bytes == cap and 0 < device.free_bytes <= cap


def test_a_split_by_free_memory_follows_the_caps_in_the_plan_and_in_llama_cpp(
    smollm2_path: Path, capped: tuple[str, str, str]
) -> None:
    _, one, three = capped
    settings = LoadSettings(
        n_gpu_layers=21, n_ctx=1024, n_threads=1, flash_attn=False, rpc=(one, three)
    )
    devices = remote_devices((one, three))
    assert [d.device.total_bytes for d in devices] == [GiB, 3 * GiB]
    plan = estimate(read_model(smollm2_path), settings, [d.target() for d in devices])
    _, one_plan, three_plan = plan.devices
    # By free memory, 1:3 (uncapped, the two workers on one machine would split evenly).
    assert 0 < len(one_plan.layers) < len(three_plan.layers) / 2
    assert one_plan.total <= GiB
    log, split_reply = load_and_reply(smollm2_path, settings)
    # llama.cpp's own split by free memory asks the workers too: it lands where the plan says.
    for endpoint, planned in ((one, one_plan), (three, three_plan)):
        got = next(b for name, b in log.items() if f"[{endpoint}]" in name)
        assert got.weights == pytest.approx(planned.weights + planned.repack, rel=0.005)
        assert got.kv_cache == pytest.approx(planned.kv_cache, rel=0.005)
    one_log = next(b for name, b in log.items() if f"[{one}]" in name)
    assert one_log.weights + one_log.kv_cache + one_log.compute <= GiB
    local = Engine()
    try:
        local.load(smollm2_path, settings.with_changes(rpc=(), n_gpu_layers=0))
        assert split_reply == reply(local) and split_reply.strip()
    finally:
        local.close()


def lmdesk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LMDESK, *args], capture_output=True, text=True, timeout=timeout)


def test_fit_keeps_the_workers_share_within_its_cap(smollm2_path: Path) -> None:
    # The whole model needs about 212 MiB on one device at n_ctx 1024; 160 MiB holds a part.
    process, line = start("--mem", "160MiB", "--json")
    try:
        endpoint = str(json.loads(line)["endpoint"])
        args = ["fit", str(smollm2_path), "--rpc", endpoint, "--ctx", "1024"]
        done = lmdesk(*args, "--margin", "16MiB", "--json")
    finally:
        stop(process)
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert 0 < facts["n_gpu_layers"] < 31
    (worker_plan,) = [d for d in facts["devices"] if d["name"] == f"RPC0@{endpoint}"]
    assert 0 < worker_plan["total"] <= 160 * MiB - 16 * MiB


def test_a_cap_above_the_device_advertises_the_real_figure_with_a_note() -> None:
    real = local_devices()[0][0].total_bytes
    process, line = start("--mem", "1TiB", "--json")
    try:
        assert process.stderr is not None
        note = process.stderr.readline()
        (facts,) = json.loads(line)["devices"]
        (device,) = probe(str(json.loads(line)["endpoint"]))
    finally:
        stop(process)
    assert note.startswith("note: --mem 1.0 TiB is more than CPU has")
    assert f"advertising its {real / GiB:.1f} GiB" in note
    assert facts["advertised_bytes"] == facts["total_bytes"] == real == device.total_bytes


@pytest.mark.parametrize(
    ("mem", "message"),
    [
        ("0", "--mem must be above 0 bytes, not '0'"),
        ("-1", "--mem takes a size such as 4GiB"),
        ("lots", "not 'lots'"),
        ("1GiB,2GiB", "--mem names 2 sizes, but this worker serves 1 device"),
    ],
)
def test_bad_sizes_are_one_line_status_2_and_nothing_starts(mem: str, message: str) -> None:
    port = free_port()
    done = lmdesk("worker", "--port", str(port), "--mem", mem)
    assert done.returncode == 2 and done.stdout == "", done
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "RPC server" not in done.stderr
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # nothing listens there
