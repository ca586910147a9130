"""Many clients, one model: turns in order, a full queue answers 429, a client that leaves
frees the model at once; JIT loading of a second model and TTL unloading. Real SDKs, real
llama.cpp, a live server on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from lmdesk.core.server import ApiServer
from lmdesk.core.serving import LoadJob
from tests.api_server import MODEL, SETTINGS, live_server

ASK = [{"role": "user", "content": "Tell me a story about a cat."}]


@pytest.fixture
def models(smollm2_path: Path, tmp_path: Path) -> dict[str, Path]:
    second = tmp_path / "second-model.gguf"
    shutil.copyfile(smollm2_path, second)
    return {MODEL: smollm2_path, "second-model": second}


@pytest.fixture
def server(models: dict[str, Path]) -> Iterator[ApiServer]:
    with live_server(models) as server:
        yield server


def _client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_two_clients_at_once_are_served_one_after_the_other(server: ApiServer) -> None:
    client = _client(server)
    client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)  # loaded
    spans: dict[str, tuple[float, float, str]] = {}

    def ask(name: str) -> None:
        first = last = 0.0
        text = ""
        for chunk in client.chat.completions.create(
            model=MODEL, messages=ASK, max_tokens=12, temperature=0, stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                last = time.monotonic()
                first = first or last
                text += chunk.choices[0].delta.content
        spans[name] = (first, last, text)

    threads = [threading.Thread(target=ask, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(spans) == {"a", "b"}
    (a_first, a_last, a_text), (b_first, b_last, b_text) = spans["a"], spans["b"]
    assert a_text and a_text == b_text  # both complete, the same greedy reply
    assert a_last <= b_first or b_last <= a_first  # never interleaved


def test_a_client_that_leaves_mid_stream_frees_the_model_within_a_second(
    server: ApiServer,
) -> None:
    client = _client(server)
    client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)
    _, scheduler = server.state.pool.acquire(MODEL)
    host, port = "127.0.0.1", server.port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    body = {"model": MODEL, "messages": ASK, "max_tokens": 400, "stream": True}
    conn.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"}
    )
    response = conn.getresponse()
    assert response.status == 200
    seen = b""
    while seen.count(b"data:") < 4:  # the role chunk and a few tokens
        seen += response.read1(1024)
    assert scheduler.busy_client == "api"
    conn.sock.close()  # the client goes away mid-reply
    conn.close()
    left = time.monotonic()
    while not scheduler.idle and time.monotonic() - left < 5:
        time.sleep(0.01)
    assert scheduler.idle and time.monotonic() - left < 1.0
    started = time.monotonic()
    reply = client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)
    assert reply.choices[0].message.content is not None
    assert time.monotonic() - started < 1.0


def test_seventeen_queued_requests_give_one_429(server: ApiServer, smollm2_path: Path) -> None:
    client = _client(server)
    client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)
    _, scheduler = server.state.pool.acquire(MODEL)
    release, holding = threading.Event(), threading.Event()

    def hold(_fraction: float) -> bool:  # a real reload, paused until released
        holding.set()
        release.wait(60)
        return True

    scheduler.submit(LoadJob(smollm2_path, SETTINGS, on_progress=hold), client="chat")
    assert holding.wait(30)
    results: list[object] = []

    def ask() -> None:
        try:
            results.append(client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1))
        except openai.RateLimitError as exc:
            results.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(17)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (scheduler.waiting == 16 and results):
            time.sleep(0.02)
        assert scheduler.busy_client == "chat"
    finally:
        release.set()
    for t in threads:
        t.join(60)
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(results) == 17 and len(refused) == 1
    assert refused[0].response.headers["retry-after"] == "1"
    assert refused[0].code == "queue_full"


def test_jit_loads_a_second_model_and_a_short_ttl_unloads_it(server: ApiServer) -> None:
    client = _client(server)
    client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)
    assert {m.id: m.model_extra["loaded"] for m in client.models.list().data} == {
        MODEL: True,
        "second-model": False,
    }
    reply = client.chat.completions.create(
        model="second-model", messages=ASK, max_tokens=2, extra_body={"ttl": 1}
    )
    assert reply.model == "second-model"
    assert set(server.state.pool.loaded()) == {MODEL, "second-model"}
    deadline = time.monotonic() + 10
    while "second-model" in server.state.pool.loaded() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(server.state.pool.loaded()) == [MODEL]  # the other keeps the default TTL
    loaded = {m.id: m.model_extra["loaded"] for m in client.models.list().data}
    assert loaded == {MODEL: True, "second-model": False}


def test_a_client_that_leaves_a_plain_request_frees_the_model_too(server: ApiServer) -> None:
    client = _client(server)
    client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=1)
    _, scheduler = server.state.pool.acquire(MODEL)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    body = {"model": MODEL, "messages": ASK, "max_tokens": 400}
    conn.request(
        "POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"}
    )
    deadline = time.monotonic() + 10
    while scheduler.busy_client != "api" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert scheduler.busy_client == "api"
    conn.sock.close()
    conn.close()
    left = time.monotonic()
    while not scheduler.idle and time.monotonic() - left < 5:
        time.sleep(0.01)
    assert scheduler.idle and time.monotonic() - left < 1.0
