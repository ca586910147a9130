"""The engine against the real llama.cpp and the real SmolLM2-135M-Instruct model.

Everything here runs llama.cpp for real: loads, streamed replies, stops,
context limits and broken files. One thread per model keeps the timings sane
on a shared 2-core machine.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import llama_cpp
import pytest
from gguf import GGUFWriter
from gguf_factory import write_model

from lmdesk.core.engine import (
    BUILTIN_TEMPLATES,
    PRESETS,
    ContextOverflow,
    Engine,
    EngineBusy,
    EngineError,
    LoadCancelled,
    LoadSettings,
    ModelFileError,
    NoModelLoaded,
    OutOfMemory,
    ReplyStats,
    SamplingSettings,
    TemplateError,
    TextChunk,
    UnsupportedArchitecture,
    template_for,
)
from lmdesk.core.engine.context import fit_conversation
from lmdesk.core.engine.stops import StreamText
from lmdesk.core.units import MiB

SETTINGS = LoadSettings(n_ctx=1024, n_batch=256, n_ubatch=256, n_threads=1)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to sing."}]
GREEDY = SamplingSettings(temperature=0, max_tokens=32)


def collect(stream: Iterable[TextChunk | ReplyStats]) -> tuple[list[TextChunk], ReplyStats]:
    """Drain a reply; check its shape: text chunks, then exactly one ReplyStats, last."""
    items = list(stream)
    *chunks, stats = items
    assert isinstance(stats, ReplyStats)
    assert all(isinstance(chunk, TextChunk) for chunk in chunks)
    return chunks, stats  # type: ignore[return-value]


@pytest.fixture(scope="module")
def engine(smollm2_path: Path) -> Iterator[Engine]:
    engine = Engine()
    engine.load(smollm2_path, SETTINGS)
    yield engine
    engine.unload()


# --- loading -------------------------------------------------------------------------------


def test_load_reports_progress_up_to_one_and_what_it_allocated(smollm2_path: Path) -> None:
    engine = Engine()
    progress: list[float] = []

    def record(value: float) -> bool:
        progress.append(value)
        return True

    report = engine.load(smollm2_path, LoadSettings(n_ctx=512, n_threads=1), on_progress=record)
    try:
        assert len(progress) >= 3
        assert progress == sorted(progress)
        assert progress[0] < 0.5
        assert progress[-1] == 1.0
        assert report.architecture == "llama"
        assert (report.n_layer, report.n_ctx, report.n_ctx_train) == (30, 512, 8192)
        assert report.has_builtin_template and report.chat_template == "gguf"
        assert report.template_choice is None
        # 512 cells x 30 layers x (192 + 192) values x 2 bytes (f16), as llama.cpp logs it.
        assert any("KV buffer size =    11.25 MiB" in line for line in report.allocations)
        assert report.rss_before > 0 and report.rss_after > 0
    finally:
        engine.unload()


def test_returning_false_from_progress_cancels_the_load(smollm2_path: Path) -> None:
    engine = Engine()
    calls: list[float] = []

    def cancel_on_third_call(value: float) -> bool:
        calls.append(value)
        return len(calls) < 3

    with pytest.raises(LoadCancelled, match="cancelled"):
        engine.load(smollm2_path, SETTINGS, on_progress=cancel_on_third_call)
    assert len(calls) == 3  # llama.cpp stopped at once
    assert not engine.loaded
    engine.load(smollm2_path, SETTINGS)  # the engine is still usable
    _, stats = collect(engine.complete("Hello", SamplingSettings(max_tokens=2)))
    assert stats.generated_tokens == 2
    engine.unload()


def test_an_exception_in_the_progress_callback_fails_the_load_cleanly(smollm2_path: Path) -> None:
    engine = Engine()

    def broken(value: float) -> bool:
        raise RuntimeError("progress bar went away")

    with pytest.raises(EngineError, match="progress callback failed") as caught:
        engine.load(smollm2_path, SETTINGS, on_progress=broken)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not engine.loaded


def test_unload_frees_the_memory_and_the_model_reloads(smollm2_path: Path) -> None:
    engine = Engine()
    # Without mmap the 92 MiB of weights are read into this process's memory.
    settings = LoadSettings(n_ctx=256, use_mmap=False, n_threads=1)
    report = engine.load(smollm2_path, settings)
    assert report.rss_growth > 60 * MiB
    unloaded = engine.unload()
    assert unloaded.freed > 60 * MiB
    assert not engine.loaded and engine.report is None
    with pytest.raises(NoModelLoaded):
        engine.count_tokens("hello")
    engine.load(smollm2_path, settings)
    _, stats = collect(engine.chat(QUESTION, SamplingSettings(temperature=0, max_tokens=4)))
    assert stats.generated_tokens > 0
    engine.unload()


# --- broken files --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        Engine().load(tmp_path / "nowhere.gguf", SETTINGS)


def test_truncated_model_file(tmp_path: Path, smollm2_path: Path) -> None:
    truncated = tmp_path / "SmolLM2-truncated.gguf"
    with smollm2_path.open("rb") as source, truncated.open("wb") as target:
        shutil.copyfileobj(source, target, length=MiB)
        target.truncate(smollm2_path.stat().st_size // 2)
    engine = Engine()
    with pytest.raises(ModelFileError, match=r"incomplete or corrupt.*Download it again") as caught:
        engine.load(truncated, SETTINGS)
    assert "not within the file bounds" in caught.value.log_excerpt
    assert not engine.loaded


def test_random_bytes_are_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "noise.gguf"
    path.write_bytes(os.urandom(64 * 1024))
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        Engine().load(path, SETTINGS)


def test_garbage_after_the_gguf_magic_is_reported_from_llama_cpp_log(tmp_path: Path) -> None:
    path = tmp_path / "garbage.gguf"
    path.write_bytes(b"GGUF" + b"\xff" * 4096)  # version 0xFFFFFFFF
    with pytest.raises(ModelFileError, match="only supports up to version 3"):
        Engine().load(path, SETTINGS)


def test_unknown_architecture(tmp_path: Path) -> None:
    path = tmp_path / "strange.gguf"
    writer = GGUFWriter(path, "notarealarch")
    writer.add_name("strange")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    # Other code may point llama.cpp's one global logger elsewhere (llama-cpp-python does at
    # import); the engine must still read the reason from the log.
    llama_cpp.llama_log_set(llama_cpp._logger.llama_log_callback, ctypes.c_void_p(0))
    with pytest.raises(UnsupportedArchitecture, match=r"'notarealarch'.*does not know") as caught:
        Engine().load(path, SETTINGS)
    assert caught.value.architecture == "notarealarch"


def test_a_context_too_large_for_memory_is_out_of_memory(smollm2_path: Path) -> None:
    kv_bytes_per_cell = 30 * (192 + 192) * 2  # SmolLM2, f16 K and V
    with open("/proc/meminfo") as meminfo:
        kib = {line.split(":")[0]: int(line.split()[1]) for line in meminfo}
    memory = (kib["MemTotal"] + kib.get("SwapTotal", 0)) * 1024
    n_ctx = 4 * memory // kv_bytes_per_cell
    with open("/proc/sys/vm/overcommit_memory") as mode:
        overcommit = mode.read().strip()
    if overcommit == "1" or n_ctx > 16_000_000:
        # With "always overcommit" the allocation succeeds and clearing it would take the machine.
        pytest.skip("this machine would not refuse the allocation")
    engine = Engine()
    with pytest.raises(OutOfMemory, match="not enough memory") as caught:
        engine.load(smollm2_path, LoadSettings(n_ctx=n_ctx, n_threads=1))
    assert "failed to allocate" in caught.value.log_excerpt
    assert not engine.loaded


# --- streaming replies ---------------------------------------------------------------------


def test_a_reply_streams_in_chunks_that_add_up(engine: Engine) -> None:
    chunks, stats = collect(engine.chat(QUESTION, GREEDY))
    assert len(chunks) > 5
    assert "".join(chunk.text for chunk in chunks) == stats.text
    assert "Paris" in stats.text
    assert stats.prompt_tokens == engine.count_message_tokens(QUESTION)
    assert sum(chunk.n_tokens for chunk in chunks) == stats.generated_tokens
    assert 0 < stats.generated_tokens <= 32
    assert stats.stop_reason in ("eos", "max_tokens")
    assert 0 < stats.ttft_s < stats.total_s
    assert stats.tokens_per_s > 0


def test_greedy_replies_are_repeatable_and_seeds_repeat_sampling(engine: Engine) -> None:
    _, first = collect(engine.chat(QUESTION, GREEDY))
    _, cached = collect(engine.chat(QUESTION, GREEDY))
    engine.reset_cache()
    _, fresh = collect(engine.chat(QUESTION, GREEDY))
    assert first.text == cached.text == fresh.text
    assert cached.cached_tokens == cached.prompt_tokens - 1  # the prompt came from the KV cache
    assert fresh.cached_tokens == 0

    seeded = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, max_tokens=12)
    _, one = collect(engine.chat(STORY, seeded.with_changes(seed=1234)))
    _, two = collect(engine.chat(STORY, seeded.with_changes(seed=1234)))
    assert one.text == two.text and one.seed == two.seed == 1234


def test_stop_from_another_thread_ends_the_reply_within_one_token(engine: Engine) -> None:
    stop = threading.Event()
    lock = threading.Lock()
    received = 0
    seen_when_stopped: list[int] = []
    started = threading.Event()

    def press_stop() -> None:
        assert started.wait(30)
        with lock:
            seen_when_stopped.append(received)
            stop.set()

    presser = threading.Thread(target=press_stop)
    presser.start()
    stats = None
    for chunk in engine.chat(
        STORY, SamplingSettings(temperature=0, max_tokens=400), stop_flag=stop
    ):
        if isinstance(chunk, TextChunk):
            with lock:
                received += chunk.n_tokens
            if received >= 3:
                started.set()
        else:
            stats = chunk
    presser.join()
    assert stats is not None and stats.stop_reason == "user_stop"
    assert seen_when_stopped[0] <= stats.generated_tokens <= seen_when_stopped[0] + 1


def test_a_callable_stop_flag_is_checked_after_every_token(engine: Engine) -> None:
    received: list[TextChunk] = []
    stream = engine.chat(STORY, GREEDY, stop_flag=lambda: len(received) >= 5)
    for chunk in stream:
        if isinstance(chunk, TextChunk):
            received.append(chunk)
        else:
            stats = chunk
    assert stats.stop_reason == "user_stop"
    assert stats.generated_tokens == 5


def test_max_tokens_ends_the_reply(engine: Engine) -> None:
    _, stats = collect(engine.chat(STORY, SamplingSettings(temperature=0, max_tokens=7)))
    assert stats.stop_reason == "max_tokens"
    assert stats.generated_tokens == 7


def test_a_stop_string_ends_the_reply_and_is_left_out(engine: Engine) -> None:
    _, full = collect(engine.chat(STORY, GREEDY))
    words = [word for word in full.text.split() if word.isalpha() and len(word) > 3]
    stop = " " + words[2]
    assert stop in full.text
    chunks, stats = collect(engine.chat(STORY, GREEDY.with_changes(stop=[stop])))
    assert stats.stop_reason == "stop_string"
    assert stats.text == full.text[: full.text.index(stop)]
    assert "".join(chunk.text for chunk in chunks) == stats.text
    assert stop not in stats.text


def test_continue_extends_the_last_assistant_message(engine: Engine) -> None:
    partial = "The capital of France is"
    conversation = [*QUESTION, {"role": "assistant", "content": partial}]
    _, stats = collect(engine.chat(conversation, GREEDY, continue_last=True))
    assert stats.prompt_tokens > engine.count_message_tokens(QUESTION)
    assert stats.text and not stats.text.startswith(partial)
    with pytest.raises(ValueError, match="assistant message"):
        engine.chat(QUESTION, GREEDY, continue_last=True)


def test_one_reply_at_a_time(engine: Engine) -> None:
    stream = engine.chat(STORY, GREEDY)
    assert isinstance(next(stream), TextChunk)
    with pytest.raises(EngineBusy):
        engine.chat(QUESTION, GREEDY)
    with pytest.raises(EngineBusy):
        engine.unload()
    stream.close()  # the person left: the engine is free again
    _, stats = collect(engine.chat(QUESTION, SamplingSettings(temperature=0, max_tokens=2)))
    assert stats.generated_tokens == 2


def test_nothing_loaded() -> None:
    with pytest.raises(NoModelLoaded, match="No model is loaded"):
        Engine().chat(QUESTION)


# --- the context ---------------------------------------------------------------------------


def long_conversation(turns: int) -> list[dict[str, str]]:
    system = {"role": "system", "content": "You are a terse assistant."}
    messages = [system]
    for i in range(turns):
        messages.append({"role": "user", "content": f"Tell me fact number {i} about the sea. " * 4})
        messages.append(
            {"role": "assistant", "content": f"Fact {i}: the sea is salty and deep. " * 4}
        )
    messages.append({"role": "user", "content": "What is two plus two?"})
    return messages


def test_truncate_oldest_keeps_the_system_prompt_and_the_last_message(engine: Engine) -> None:
    messages = long_conversation(30)
    assert engine.count_message_tokens(messages) > engine.n_ctx
    # Keep 600 tokens for the reply (a short prompt evaluates fast), stop after the first one.
    room = 600
    received: list[TextChunk] = []
    stream = engine.chat(
        messages,
        SamplingSettings(temperature=0, max_tokens=room),
        stop_flag=lambda: bool(received),
        context_policy="truncate_oldest",
    )
    for chunk in stream:
        if isinstance(chunk, TextChunk):
            received.append(chunk)
        else:
            stats = chunk
    assert stats.generated_tokens == 1  # it still answers
    dropped = stats.dropped_messages
    assert dropped > 0 and dropped % 2 == 0  # whole turns
    kept = [messages[0], *messages[1 + dropped :]]
    assert kept[1]["role"] == "user"
    assert stats.prompt_tokens == engine.count_message_tokens(kept)
    assert stats.prompt_tokens + room <= engine.n_ctx
    # One turn more would not have fitted: as little as possible was dropped.
    one_more = [messages[0], *messages[dropped - 1 :]]
    assert engine.count_message_tokens(one_more) + room > engine.n_ctx


def test_stop_policy_refuses_with_numbers(engine: Engine) -> None:
    messages = long_conversation(30)
    with pytest.raises(ContextOverflow, match=r"context holds 1,024") as caught:
        engine.chat(messages, GREEDY, context_policy="stop")
    assert caught.value.needed > caught.value.available == 1024


def test_a_last_message_too_long_on_its_own_overflows(engine: Engine) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "sea " * 2000},
    ]
    with pytest.raises(ContextOverflow, match="Even with the older messages left out"):
        engine.chat(messages, GREEDY, context_policy="truncate_oldest")


def test_a_full_context_ends_the_reply_instead_of_failing(smollm2_path: Path) -> None:
    engine = Engine()
    engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1))
    try:
        prompt = ", ".join(str(i) for i in range(1, 61)) + ","  # 230 tokens; the model counts on
        _, stats = collect(engine.complete(prompt, SamplingSettings(temperature=0)))
        assert stats.stop_reason == "context_full"
        # Every cell is used; the last token was sampled from the last cell's logits.
        assert stats.prompt_tokens + stats.generated_tokens == 256 + 1
        _, again = collect(engine.complete("Hello", SamplingSettings(max_tokens=3)))
        assert again.generated_tokens == 3
    finally:
        engine.unload()


def test_counting_tokens(engine: Engine) -> None:
    assert engine.count_tokens("") == 0
    assert engine.count_tokens("<|im_start|>") == 1  # a control token of SmolLM2's ChatML
    assert engine.count_tokens("Hello world, hello world") > engine.count_tokens("Hello world")


def test_fit_conversation_drops_whole_turns_oldest_first() -> None:
    messages = long_conversation(5)

    def count(kept: object) -> int:
        return 10 * len(kept)  # type: ignore[arg-type]

    fitted = fit_conversation(
        messages, count_tokens=count, n_ctx=80, reply_room=20, policy="truncate_oldest"
    )
    assert fitted.messages[0] == messages[0]
    assert fitted.messages[1]["role"] == "user"
    assert fitted.messages[-1] == messages[-1]
    assert len(fitted.messages) * 10 <= 60 and fitted.dropped == len(messages) - len(
        fitted.messages
    )


# --- chat templates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("architecture", "name", "tokens", "expected"),
    [
        ("gemma3", "", (), "gemma"),
        ("gemma2", "", (), "gemma"),
        ("gemma", "", (), "gemma"),
        ("qwen2", "", (), "chatml"),
        ("phi3", "", (), "phi-3"),
        ("mistral3", "", (), "mistral-instruct"),
        ("llama", "Meta-Llama-3.1-8B-Instruct", (), "llama-3"),
        ("llama", "Mistral-7B-Instruct-v0.2", (), "mistral-instruct"),
        ("llama", "", ("<|start_header_id|>",), "llama-3"),
        ("llama", "", ("<|im_start|>",), "chatml"),
        ("llama", "gemma-like base", ("<start_of_turn>",), "gemma"),
    ],
)
def test_template_for_picks_a_format(
    architecture: str, name: str, tokens: tuple[str, ...], expected: str
) -> None:
    choice = template_for(architecture, model_name=name, special_tokens=tokens)
    assert choice.name == expected
    assert choice.reason


def test_a_chat_token_in_the_vocabulary_is_no_evidence_of_a_chat_model() -> None:
    # Gemma-3-270M (base) has <start_of_turn> in its vocabulary and no template: it
    # answers garbage in the Gemma format, so the guess must not claim to be sure.
    base = template_for("gemma3", model_name="Gemma 3 270m", special_tokens=("<start_of_turn>",))
    assert base.name == "gemma" and not base.confident
    for tokens in [("<|im_start|>",), ("<|start_header_id|>",)]:
        assert not template_for("llama", special_tokens=tokens).confident
    assert not template_for("qwen2", model_name="Qwen2.5-0.5B").confident


@pytest.mark.parametrize("architecture", ["llama", "falcon", "starcoder2", "", "notarealarch"])
def test_template_for_without_evidence_is_chatml_and_says_it_is_unsure(architecture: str) -> None:
    choice = template_for(architecture)
    assert choice.name == "chatml" and not choice.confident
    assert "llama-2" not in BUILTIN_TEMPLATES


CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Bye"},
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "chatml",
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n",
        ),
        (
            "gemma",
            "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!"
            "<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n",
        ),
        (
            "llama-3",
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
        ),
        (
            "phi-3",
            "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
            "<|user|>\nBye<|end|>\n<|assistant|>\n",
        ),
        ("mistral-instruct", "[INST] Be brief.\n\nHi [/INST]Hello!</s>[INST] Bye [/INST]"),
        ("completion", "Be brief.HiHello!Bye"),
    ],
)
def test_builtin_templates_render_their_format(name: str, expected: str) -> None:
    assert BUILTIN_TEMPLATES[name].render(CONVERSATION) == expected


def test_the_engine_uses_the_file_template_and_can_switch(engine: Engine) -> None:
    assert engine.has_builtin_template
    assert engine.available_templates()[0] == "gguf"
    with_system = [{"role": "system", "content": "Be brief."}, *QUESTION]
    gguf_prompt = engine.render_prompt(with_system)
    try:
        engine.chat_template = "chatml"  # SmolLM2's own format, so the same prompt
        assert engine.render_prompt(with_system) == gguf_prompt
        engine.chat_template = "completion"
        assert engine.render_prompt(with_system) == "Be brief.What is the capital of France?"
        with pytest.raises(TemplateError, match="no chat template called 'llama-2'"):
            engine.chat_template = "llama-2"
    finally:
        engine.chat_template = "gguf"


def test_a_model_without_a_template_continues_text_and_is_offered_a_guess(
    tmp_path: Path,
) -> None:
    # A small real model (written with gguf's writer) with the gemma architecture and no template.
    path = write_model(tmp_path / "tiny-gemma.gguf", arch="gemma")
    engine = Engine()
    report = engine.load(path, LoadSettings(n_ctx=256, n_threads=1))
    try:
        assert not report.has_builtin_template and not engine.has_builtin_template
        # Plain completion (a base model's only sensible use), never a silent chat format.
        assert report.chat_template == engine.chat_template == "completion"
        assert engine.render_prompt(CONVERSATION[:2]) == "Be brief.Hi"
        _, stats = collect(engine.chat(CONVERSATION[:2], SamplingSettings(max_tokens=3)))
        assert stats.generated_tokens <= 3 and stats.prompt_tokens > 0
        # The guess is offered, and unsure.
        assert report.template_choice is not None
        assert report.template_choice.name == "gemma" and not report.template_choice.confident
        assert "gguf" not in engine.available_templates()
        engine.chat_template = "gemma"
        prompt = engine.render_prompt(CONVERSATION[:2])
        assert prompt == "<start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
        _, stats = collect(engine.chat(CONVERSATION, SamplingSettings(max_tokens=3)))
        assert stats.generated_tokens <= 3
        with pytest.raises(TemplateError, match="no usable chat template"):
            engine.chat_template = "gguf"
    finally:
        engine.unload()


# --- settings and streaming text -----------------------------------------------------------


def test_load_settings_map_onto_llama_arguments() -> None:
    settings = LoadSettings(
        n_gpu_layers=12, n_ctx=8192, type_k="q8_0", type_v="q4_0", flash_attn=True
    )
    kwargs = settings.to_llama_kwargs()
    assert (kwargs["type_k"], kwargs["type_v"]) == (
        llama_cpp.GGML_TYPE_Q8_0,
        llama_cpp.GGML_TYPE_Q4_0,
    )
    assert kwargs["flash_attn"] is True and kwargs["n_gpu_layers"] == 12
    inspect.signature(llama_cpp.Llama).bind("model.gguf", **kwargs)  # names Llama accepts
    with pytest.raises(ValueError, match="quantized V cache"):
        LoadSettings(type_v="q8_0", flash_attn=False)


def test_sampling_presets_are_valid_and_settings_are_checked() -> None:
    assert set(PRESETS) == {"Balanced", "Precise", "Creative"}
    assert PRESETS["Precise"].temperature < PRESETS["Balanced"].temperature
    assert PRESETS["Creative"].temperature > PRESETS["Balanced"].temperature
    assert SamplingSettings(stop=["\n\n"]).stop == ("\n\n",)
    with pytest.raises(ValueError, match="top-p"):
        SamplingSettings(top_p=0)
    with pytest.raises(ValueError, match="max_tokens"):
        SamplingSettings(max_tokens=0)


def test_stream_text_holds_back_split_stop_strings_and_characters() -> None:
    stream = StreamText(["<END>"])
    pieces = [b"Hello <E", b"N", b"D> never shown"]
    out = [stream.feed(piece) for piece in pieces]
    assert out == ["Hello ", "", ""]
    assert stream.stopped_by == "<END>" and stream.text == "Hello "
    assert stream.finish() == ""

    stream = StreamText()
    euro = "€".encode()
    assert stream.feed(b"5 " + euro[:1]) == "5 "
    assert stream.feed(euro[1:]) == "€"
    assert stream.finish() == "" and stream.text == "5 €"

    stream = StreamText(["<END>"])
    assert stream.feed(b"a <E") == "a "
    assert stream.finish() == "<E"  # not a stop after all: released at the end


def test_log_captures_nest_and_each_ends_on_its_own(smollm2_path: Path) -> None:
    """A capture around a load that captures too: both end, and the outer one saw it all
    (removing by equality took the wrong, equal, capture and then raised ValueError)."""
    from lmdesk.core.engine import llama_log

    engine = Engine()
    try:
        with llama_log.capture() as outer:
            with llama_log.capture() as inner:
                engine.load(smollm2_path, LoadSettings(n_ctx=256, n_threads=1))
            seen_inside = len(inner.lines)
            engine.load(smollm2_path, LoadSettings(n_ctx=512, n_threads=1))  # logs again
        assert seen_inside > 0 and len(inner.lines) == seen_inside
        assert len(outer.lines) > seen_inside  # the outer capture heard the second load too
    finally:
        engine.close()
