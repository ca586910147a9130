"""`lmdesk worker` (llama.cpp's RPC server for this machine's devices) and the Hardware
page's remote workers: real processes on 127.0.0.1, a real RPC client, a garbage peer."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from lmdesk.core.rpc_worker import WorkerError, parse_endpoint, probe
from lmdesk.core.settings import Settings
from lmdesk.ui.pages.hardware.workers import WorkersCard
from lmdesk.ui.services.context import SettingsStore

LMDESK = [sys.executable, "-c", "import sys; from lmdesk.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker() -> Iterator[tuple[subprocess.Popen[str], dict[str, object]]]:
    port = free_port()
    process = subprocess.Popen(
        [*LMDESK, "worker", "--port", str(port), "--json", "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    try:
        yield process, json.loads(line)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_a_worker_serves_this_machines_devices_and_stops_on_ctrl_c(
    worker: tuple[subprocess.Popen[str], dict[str, object]],
) -> None:
    process, facts = worker
    assert facts["event"] == "listening" and str(facts["endpoint"]).startswith("127.0.0.1:")
    local = facts["devices"]
    assert isinstance(local, list) and local[0]["name"] == "CPU" and local[0]["total_bytes"] > 0
    offered = probe(str(facts["endpoint"]))  # the RPC client, as the app asks
    assert len(offered) == 1 and offered[0].total_bytes == local[0]["total_bytes"]
    process.send_signal(signal.SIGINT)
    assert process.wait(20) == 0


def test_a_port_in_use_or_a_device_that_is_not_there_is_one_line_and_status_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [*LMDESK, "worker", "--port", str(port)], capture_output=True, text=True, timeout=60
        )
    assert busy.returncode == 2 and busy.stderr.count("\n") == 1 and "in use" in busy.stderr
    missing = subprocess.run(
        [*LMDESK, "worker", "--port", str(free_port()), "--device", "7"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        missing.returncode == 2 and "no device 7" in missing.stderr and "0: CPU" in missing.stderr
    )


def test_endpoints_are_checked() -> None:
    assert parse_endpoint("10.0.0.2:50053") == ("10.0.0.2", 50053)
    assert parse_endpoint("gpu-box") == ("gpu-box", 50052)
    assert parse_endpoint("[::1]:7000") == ("::1", 7000)
    for bad in ("", "host:99999", "host:abc", "a b:1"):
        with pytest.raises(WorkerError):
            parse_endpoint(bad)


def test_a_peer_that_answers_garbage_is_refused_and_this_process_lives_on() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def garbage() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            client.sendall(os.urandom(4096))
            client.close()

    threading.Thread(target=garbage, daemon=True).start()
    try:
        with pytest.raises(WorkerError, match=r"not a llama\.cpp RPC worker"):
            probe(f"127.0.0.1:{port}", timeout_s=15)
    finally:
        server.close()
    with pytest.raises(WorkerError, match="no worker answers"):
        probe(f"127.0.0.1:{free_port()}")


def test_the_hardware_page_adds_a_worker_shows_its_memory_and_remembers_it(
    qtbot: QtBot, worker: tuple[subprocess.Popen[str], dict[str, object]]
) -> None:
    _, facts = worker
    store = SettingsStore(Settings())
    card = WorkersCard(store)
    qtbot.addWidget(card)
    card.show()
    card.address.setText("not an address:99999")
    card.add_button.click()
    assert card.problem.isVisible() and store.settings.rpc_workers == ()
    endpoint = str(facts["endpoint"])
    card.address.setText(endpoint)
    card.add_button.click()
    assert store.settings.rpc_workers == (endpoint,)
    qtbot.waitUntil(lambda: "free of" in card.rows[endpoint].text(), timeout=30_000)
    closed = f"127.0.0.1:{free_port()}"
    card.address.setText(closed)
    card.add_button.click()
    qtbot.waitUntil(lambda: "unreachable" in card.rows[closed].text(), timeout=30_000)
    again = WorkersCard(store)  # the page built anew: the list is remembered
    qtbot.addWidget(again)
    assert set(again.rows) == {endpoint, closed}
    card.remove(closed)
    assert store.settings.rpc_workers == (endpoint,)
    assert card.wait() and again.wait()
