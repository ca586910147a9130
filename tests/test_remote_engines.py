"""Remote engines against real servers on 127.0.0.1: lmdesk's own (``lmdesk serve``) and
llama-cpp-python's (``python -m llama_cpp.server``), both on the real SmolLM2; and the
failures a person must be told about in one sentence: unreachable, wrong key, model
gone, a stream cut in the middle, a server that speaks garbage or nothing at all."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from remote_servers import RunningServer, free_port, llama_cpp_server, lmdesk_serve

from lmdesk.core.engine import EngineError, ReplyStats, SamplingSettings, TextChunk
from lmdesk.core.engine.switch import EngineSwitch
from lmdesk.core.remote_engines import RemoteModel, RemoteServer, is_remote_label
from lmdesk.core.remote_engines.engine import RemoteEngine
from lmdesk.core.remote_engines.errors import (
    BadServerReply,
    RemoteModelGone,
    ServerUnreachable,
    StreamCut,
    WrongKey,
)
from lmdesk.core.remote_engines.http import Timeouts
from lmdesk.core.remote_engines.listing import list_models, parse_listing
from lmdesk.core.remote_engines.sse import events
from lmdesk.core.settings import Settings, load_settings, save_settings

HELLO = [{"role": "user", "content": "Say hello."}]
GREEDY = SamplingSettings(temperature=0.0, max_tokens=8, seed=1)


def _reply(engine: RemoteEngine | EngineSwitch, **kw: object) -> tuple[list[TextChunk], ReplyStats]:
    chunks = list(engine.chat(HELLO, GREEDY, **kw))  # type: ignore[arg-type]
    stats = chunks.pop()
    assert isinstance(stats, ReplyStats)
    assert all(isinstance(c, TextChunk) for c in chunks)
    return chunks, stats  # type: ignore[return-value]


@pytest.fixture(scope="module")
def lmdesk_server(
    smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with lmdesk_serve(smollm2_path, key="right-key", tmp=tmp_path_factory.mktemp("serve")) as s:
        yield s


@pytest.fixture(scope="module")
def llama_server(smollm2_path: Path) -> Iterator[RunningServer]:
    with llama_cpp_server(smollm2_path) as server:
        yield server


# --- the two real servers ----------------------------------------------------------------


def test_lmdesk_serve_lists_and_streams_with_the_servers_usage(
    lmdesk_server: RunningServer,
) -> None:
    server = RemoteServer.checked("Desk", lmdesk_server.base_url, "right-key")
    assert list_models(server) == [lmdesk_server.model_id]
    engine = RemoteEngine()
    report = engine.load(RemoteModel(server, lmdesk_server.model_id))
    assert report.remote_server == "Desk" and str(report.path) == f"Desk / {lmdesk_server.model_id}"
    assert is_remote_label(str(report.path)) and not is_remote_label(str(Path.cwd() / "a.gguf"))
    chunks, stats = _reply(engine)
    assert stats.text == "".join(c.text for c in chunks) and stats.text.strip()
    assert stats.generated_tokens == sum(c.n_tokens for c in chunks) == 8  # usage: exact
    assert not stats.counts_estimated
    assert stats.stop_reason == "max_tokens" and stats.seed == 1
    assert stats.prompt_tokens > 10  # the server's count of the templated prompt
    again = _reply(engine)[1]
    assert again.text == stats.text  # greedy with the same seed: the same reply
    engine.close()
    assert not engine.loaded


def test_llama_cpp_server_streams_chat_and_completion(llama_server: RunningServer) -> None:
    server = RemoteServer.checked("Llama", f"{llama_server.base_url}/v1/")  # with /v1, too
    engine = RemoteEngine()
    engine.load(RemoteModel(server, "smollm2"))
    chunks, stats = _reply(engine)
    assert stats.text.strip() and stats.generated_tokens == sum(c.n_tokens for c in chunks)
    assert 1 <= stats.generated_tokens <= 8 and stats.stop_reason in ("max_tokens", "eos")
    # Its stream sends no usage: the counts are lmdesk's own, and marked so.
    assert stats.counts_estimated
    completion = list(engine.complete("The capital of France is", GREEDY))
    final = completion.pop()
    assert isinstance(final, ReplyStats) and final.text.strip()
    assert final.text == "".join(c.text for c in completion if isinstance(c, TextChunk))
    engine.close()


def test_stop_ends_a_remote_reply_within_a_piece(llama_server: RunningServer) -> None:
    engine = RemoteEngine()
    engine.load(RemoteModel(RemoteServer.checked("Llama", llama_server.base_url), "smollm2"))
    stop = threading.Event()
    text = []
    for chunk in engine.chat(HELLO, replace(GREEDY, max_tokens=200), stop_flag=stop):
        if isinstance(chunk, TextChunk):
            text.append(chunk.text)
            stop.set()
        else:
            stats = chunk
    assert stats.stop_reason == "user_stop" and 1 <= stats.generated_tokens <= 2
    engine.close()


def test_a_wrong_key_and_a_gone_model_each_get_their_sentence(
    lmdesk_server: RunningServer,
) -> None:
    wrong = RemoteServer.checked("Desk", lmdesk_server.base_url, "wrong-key")
    with pytest.raises(WrongKey, match=r"Desk refused the API key \(401\).*Settings"):
        RemoteEngine().load(RemoteModel(wrong, lmdesk_server.model_id))
    nokey = RemoteServer.checked("Desk", lmdesk_server.base_url)
    with pytest.raises(WrongKey):
        list_models(nokey)
    right = RemoteServer.checked("Desk", lmdesk_server.base_url, "right-key")
    with pytest.raises(RemoteModelGone, match="does not list the model 'gone'"):
        RemoteEngine().load(RemoteModel(right, "gone"))
    # Listed at load, gone by the reply: the server's 404 for it.
    engine = RemoteEngine()
    engine.load(RemoteModel(right, lmdesk_server.model_id))
    engine._current.model = RemoteModel(right, "gone")  # type: ignore[union-attr]
    with pytest.raises(RemoteModelGone, match="no longer has the model 'gone'"):
        _reply(engine)
    engine.close()


def test_a_server_killed_mid_reply_cuts_the_stream_and_keeps_the_text(
    smollm2_path: Path,
) -> None:
    with llama_cpp_server(smollm2_path) as running:
        engine = RemoteEngine(Timeouts(connect_s=2, read_s=10))
        engine.load(RemoteModel(RemoteServer.checked("Box", running.base_url), "smollm2"))
        got: list[str] = []
        started = time.monotonic()
        with pytest.raises(StreamCut, match=r"Box (stopped|ended)|broke off") as caught:
            for chunk in engine.chat(HELLO, replace(GREEDY, max_tokens=400)):
                if isinstance(chunk, TextChunk):
                    got.append(chunk.text)
                    if len(got) == 2:
                        running.kill()
        assert time.monotonic() - started < 10
        assert len(got) >= 2 and "".join(got).strip()
        assert "the text so far is kept" in str(caught.value)
        assert not engine._busy  # the next reply may start (and is told the server is gone)
        with pytest.raises(ServerUnreachable, match="Box cannot be reached"):
            _reply(engine)
        engine.close()


def test_the_switch_runs_a_file_here_or_a_remote_model(
    smollm2_path: Path, llama_server: RunningServer
) -> None:
    from lmdesk.core.load_settings import LoadSettings

    switch = EngineSwitch()
    remote = RemoteModel(RemoteServer.checked("Llama", llama_server.base_url), "smollm2")
    assert switch.load(remote).remote_server == "Llama"
    assert switch.backend is switch.remote and switch.chat_template == "server"
    assert _reply(switch)[1].text.strip()
    local = switch.load(smollm2_path, LoadSettings(n_ctx=512, n_threads=1))
    assert local.remote_server == "" and switch.backend is switch.local
    assert not switch.remote.loaded and switch.local.loaded
    assert _reply(switch)[1].text.strip()
    switch.load(remote)
    assert not switch.local.loaded and switch.loaded
    switch.close()
    assert not switch.loaded


# --- bad input: addresses, silence and garbage ---------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["localhost:1234", "ftp://host", "http://", "http://host:99999", "http://host:0", "not a url"],
)
def test_an_address_that_is_not_one_is_refused_with_one_sentence(url: str) -> None:
    with pytest.raises(ValueError, match="is not a server address"):
        RemoteServer.checked("X", url)


def test_names_must_be_given_and_unique_in_the_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Give the server a name"):
        RemoteServer.checked("  ", "http://127.0.0.1:1")
    one = {"name": "A", "base_url": "http://127.0.0.1:1", "api_key": "k"}
    with pytest.raises(ValueError, match="two remote servers are named 'A'"):
        Settings(remote_servers=(one, one))
    path = tmp_path / "settings.json"
    save_settings(Settings(remote_servers=(one,)), path)
    assert load_settings(path).remote_servers == (one,)  # the key in plain text, as README says
    path.write_text(path.read_text().replace("http://127.0.0.1:1", "nonsense"))
    loaded = load_settings(path)
    assert loaded.remote_servers == () and any("remote_servers" in w for w in loaded.warnings)


def test_nothing_listening_is_unreachable_at_once() -> None:
    server = RemoteServer.checked("Gone", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match=r"Gone cannot be reached .*connection refused"):
        list_models(server)
    assert time.monotonic() - started < 2


class _TcpServer:
    """A plain TCP server on 127.0.0.1 that answers each connection with ``reply(conn)``."""

    def __init__(self, reply: object) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            self.reply(conn)  # type: ignore[operator]

    def close(self) -> None:
        self.sock.close()
        for conn in self.open:
            conn.close()


def _garbage(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(os.urandom(4096))
    conn.close()


def _silent(conn: socket.socket) -> None:
    conn.recv(65536)  # and never a byte back


def _http(body: bytes, content_type: str = "text/event-stream") -> object:
    def reply(conn: socket.socket) -> None:
        conn.recv(65536)
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        conn.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
        conn.close()

    return reply


def test_random_bytes_and_silence_each_end_within_their_timeout() -> None:
    garbage, silent = _TcpServer(_garbage), _TcpServer(_silent)
    try:
        fast = Timeouts(connect_s=1.0, read_s=1.0)
        started = time.monotonic()
        with pytest.raises(BadServerReply, match="did not answer like an OpenAI-compatible"):
            list_models(RemoteServer.checked("Noise", f"http://127.0.0.1:{garbage.port}"), fast)
        with pytest.raises(BadServerReply, match="Quiet stopped answering for 1 s"):
            list_models(RemoteServer.checked("Quiet", f"http://127.0.0.1:{silent.port}"), fast)
        assert time.monotonic() - started < 4
    finally:
        garbage.close()
        silent.close()


def test_a_listing_that_is_not_openais_is_named() -> None:
    for raw, words in [
        (b"<html>hi</html>", "did not answer /v1/models with JSON"),
        (b'{"models": []}', "no list of models"),
        (b'{"data": [{"name": "x"}]}', "a model without an id"),
        (b"\xff\xfe", "did not answer /v1/models with JSON"),
    ]:
        with pytest.raises(BadServerReply, match=words):
            parse_listing(raw, "S")
    listed = parse_listing(b'{"data": [{"id": "m", "meta": {"n_ctx_train": 4096}}]}', "S")
    assert listed[0].model_id == "m" and listed[0].n_ctx == 4096


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["data: {not json"], "not JSON"),
        (["data: [1, 2]"], "not a JSON object"),
        (["HTTP/1.1 200 OK"], "did not stream like an OpenAI-compatible server"),
        (["\x00\x01garbage"], "did not stream like"),
        (['data: {"error": {"message": "context full"}}'], "stopped with an error: context full"),
        (["data: " + "x" * (1 << 21)], "a stream line of"),
    ],
)
def test_the_sse_reader_refuses_garbage_with_one_sentence(lines: list[str], words: str) -> None:
    with pytest.raises(BadServerReply, match=words):
        list(events(lines, server_name="S"))


def test_the_sse_reader_skips_comments_and_fields_and_stops_at_done() -> None:
    lines = [": ping", "", "event: message", "id: 3", 'data: {"a": 1}', "data: [DONE]", "junk"]
    assert list(events(lines, server_name="S")) == [{"a": 1}]


def test_a_stream_of_garbage_or_one_that_ends_early_fails_with_the_text_kept() -> None:
    piece = b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
    cut = _TcpServer(_http(piece))  # ends without a finish_reason or [DONE]
    noise = _TcpServer(_http(piece + b"data: {oops\n\n"))
    listing = b'{"data": [{"id": "m"}]}'
    try:
        for tcp, error, words in [
            (cut, StreamCut, "ended the reply before it was finished"),
            (noise, BadServerReply, "not JSON"),
        ]:
            engine = RemoteEngine(Timeouts(connect_s=1, read_s=2))
            server = RemoteServer.checked("T", f"http://127.0.0.1:{tcp.port}")
            tcp.reply = _http(listing, "application/json")
            engine.load(RemoteModel(server, "m"))
            tcp.reply = _http(piece if error is StreamCut else piece + b"data: {oops\n\n")
            got = []
            with pytest.raises(error, match=words):
                for chunk in engine.chat(HELLO, GREEDY):
                    got.append(chunk)
            assert got == [TextChunk("Hel", 1)]
            engine.close()
    finally:
        cut.close()
        noise.close()


def test_every_remote_failure_is_an_engine_error() -> None:
    for kind in (BadServerReply, RemoteModelGone, ServerUnreachable, StreamCut, WrongKey):
        assert issubclass(kind, EngineError)


def test_stop_while_the_server_is_silent_does_not_wait_for_its_next_token() -> None:
    listing = _http(b'{"data": [{"id": "m"}]}', "application/json")

    def thinking_long(conn: socket.socket) -> None:  # a long prompt: headers, then nothing
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )

    tcp = _TcpServer(listing)
    try:
        engine = RemoteEngine(Timeouts(connect_s=1, read_s=30))
        engine.load(RemoteModel(RemoteServer.checked("Slow", f"http://127.0.0.1:{tcp.port}"), "m"))
        tcp.reply = thinking_long
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        chunks = list(engine.chat(HELLO, GREEDY, stop_flag=stop))
        assert time.monotonic() - started < 2
        assert chunks[-1] == replace(chunks[-1], stop_reason="user_stop", generated_tokens=0)
        engine.close()
    finally:
        tcp.close()


def test_continue_is_refused_in_words_and_templates_are_the_servers() -> None:
    from lmdesk.core.engine import GenerationError, TemplateError

    tcp = _TcpServer(_http(b'{"data": [{"id": "m", "max_model_len": 32768}]}', "application/json"))
    try:
        engine = RemoteEngine()
        report = engine.load(
            RemoteModel(RemoteServer.checked("Far", f"http://127.0.0.1:{tcp.port}"), "m")
        )
        assert report.n_ctx == 32768 and report.chat_template == "server"  # vLLM's field
        partial = [*HELLO, {"role": "assistant", "content": "Hel"}]
        with pytest.raises(GenerationError, match=r"Far cannot carry on a reply.*Regenerate"):
            engine.chat(partial, GREEDY, continue_last=True)
        with pytest.raises(TemplateError, match="applies its own chat template"):
            engine.chat_template = "chatml"
        assert engine.count_tokens("x" * 400) == 100  # an estimate: four characters a token
        engine.close()
    finally:
        tcp.close()
