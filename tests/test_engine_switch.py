"""`IsolatedEngine` serves the whole of `Engine`'s interface from its child process (calls
by name, streamed replies, properties, typed errors, Stop and Cancel across the pipe), and
`EngineSwitch` picks this process or a child by what is loaded. Real llama.cpp, SmolLM2,
and a real `lmdesk worker` on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_peers import start_worker, stop

from lmdesk.core.engine import (
    CannotEmbed,
    ContextOverflow,
    Engine,
    LoadCancelled,
    NoModelLoaded,
    TemplateError,
    TextChunk,
)
from lmdesk.core.engine.isolated import IsolatedEngine
from lmdesk.core.engine.switch import EngineSwitch
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings

SETTINGS = LoadSettings(n_ctx=512, n_batch=128, n_ubatch=128, n_threads=1)
GREEDY = SamplingSettings(temperature=0, max_tokens=16)
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def engines(smollm2_path: Path) -> Iterator[tuple[Engine, IsolatedEngine]]:
    local, isolated = Engine(), IsolatedEngine()
    local.load(smollm2_path, SETTINGS)
    isolated.load(smollm2_path, SETTINGS)
    try:
        yield local, isolated
    finally:
        local.close()
        isolated.close()


def text_of(chunks: Iterator[object]) -> str:
    return "".join(c.text for c in chunks if isinstance(c, TextChunk))


def test_the_child_answers_as_this_process_does(engines: tuple[Engine, IsolatedEngine]) -> None:
    local, isolated = engines
    assert isolated.loaded and isolated.alive
    assert isolated.report is not None and isolated.report.n_layer == 30
    assert isolated.n_ctx == local.n_ctx == 512
    assert isolated.available_templates() == local.available_templates()
    assert isolated.chat_template == local.chat_template == "gguf"
    assert isolated.has_builtin_template and isolated.template_choice is None
    assert isolated.count_tokens("hello world") == local.count_tokens("hello world")
    assert isolated.count_message_tokens(MESSAGES) == local.count_message_tokens(MESSAGES)
    assert isolated.render_prompt(MESSAGES) == local.render_prompt(MESSAGES)
    assert not isolated.sees_images and not isolated.can_embed
    reply = text_of(isolated.chat(MESSAGES, GREEDY))
    assert reply == text_of(local.chat(MESSAGES, GREEDY)) and reply.strip()
    assert text_of(isolated.complete("Paris is", GREEDY)) == text_of(
        local.complete("Paris is", GREEDY)
    )
    isolated.chat_template = "chatml"
    assert isolated.chat_template == "chatml"
    isolated.chat_template = "gguf"


def test_errors_cross_the_pipe_typed_with_their_facts(
    engines: tuple[Engine, IsolatedEngine],
) -> None:
    _, isolated = engines
    with pytest.raises(ContextOverflow) as overflow:
        isolated.complete("word " * 600, GREEDY)  # raised at the call, before any chunk
    assert overflow.value.available == 512 and overflow.value.needed > 512
    assert "no room for a reply" in str(overflow.value)
    with pytest.raises(TemplateError, match="no chat template called 'nonesuch'"):
        isolated.chat_template = "nonesuch"
    with pytest.raises(CannotEmbed, match="cannot make embeddings"):
        isolated.embed(["hello"])
    with pytest.raises(ValueError, match="continue_last needs an assistant message"):
        isolated.render_prompt(MESSAGES, continue_last=True)
    assert isolated.loaded  # nothing of that hurt the model


def test_stop_and_a_dropped_stream_reach_the_child_within_a_token(
    engines: tuple[Engine, IsolatedEngine],
) -> None:
    _, isolated = engines
    long = SamplingSettings(temperature=0, max_tokens=300)
    stop_flag = threading.Event()
    seen = 0
    stats = None
    for chunk in isolated.complete("Once upon a time", long, stop_flag=stop_flag):
        if isinstance(chunk, TextChunk):
            seen += 1
            if seen == 3:
                stop_flag.set()
        else:
            stats = chunk
    assert stats is not None and stats.stop_reason == "user_stop"
    assert stats.generated_tokens <= 5
    dropped = isolated.complete("Once upon a time", long)
    next(dropped)
    dropped.close()  # the caller walks away: the child stops and the pipe is read clean
    assert isolated.count_tokens("hello world") == 2
    assert text_of(isolated.chat(MESSAGES, GREEDY)).strip()


def test_cancelling_a_load_in_the_child_says_so_and_leaves_nothing_loaded(
    smollm2_path: Path,
) -> None:
    engine = IsolatedEngine()
    fractions: list[float] = []
    try:

        def progress(fraction: float) -> bool:
            fractions.append(fraction)
            return fraction < 0.2

        with pytest.raises(LoadCancelled, match="was cancelled"):
            engine.load(smollm2_path, SETTINGS, on_progress=progress)
        assert fractions and not engine.loaded and engine.alive
        with pytest.raises(NoModelLoaded):
            engine.count_tokens("hello")
    finally:
        engine.close()
    assert not engine.alive


def test_the_switch_loads_over_a_worker_in_a_child_and_locally_in_this_process(
    smollm2_path: Path,
) -> None:
    worker, endpoint = start_worker()
    switch = EngineSwitch()
    try:
        switch.load(smollm2_path, SETTINGS)
        assert isinstance(switch.backend, Engine) and switch.loaded
        local_reply = text_of(switch.chat(MESSAGES, GREEDY))
        switch.load(smollm2_path, SETTINGS.with_changes(n_gpu_layers=-1, rpc=(endpoint,)))
        child = switch.backend
        assert isinstance(child, IsolatedEngine) and child.alive and switch.loaded
        report = switch.report
        assert report is not None and any(f"[{endpoint}]" in a for a in report.allocations)
        assert text_of(switch.chat(MESSAGES, GREEDY)) == local_reply
        assert switch.count_message_tokens(MESSAGES) > 0 and not switch.lost
        switch.unload()  # the child ends with its model
        assert not child.alive and isinstance(switch.backend, Engine) and not switch.loaded
        switch.load(smollm2_path, SETTINGS.with_changes(n_gpu_layers=-1, rpc=(endpoint,)))
        stop(worker)  # the worker goes: the next reply ends the child, not this process
        with pytest.raises(Exception, match="went away"):
            text_of(switch.complete("Once upon a time", SamplingSettings(max_tokens=50)))
        assert switch.lost and not switch.loaded and switch.report is None
        switch.load(smollm2_path, SETTINGS)  # a load without the worker: back in-process
        assert isinstance(switch.backend, Engine) and switch.loaded and not switch.lost
        assert text_of(switch.chat(MESSAGES, GREEDY)) == local_reply
    finally:
        switch.close()
        if worker.poll() is None:
            stop(worker)
