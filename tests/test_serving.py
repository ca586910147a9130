"""The serving core: one queue per model (FIFO, bounded, cancel within a token) and the pool
(JIT load by id, least recently used idle model unloaded to make room, TTL unload). Real
llama.cpp with SmolLM2."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmdesk.core.engine import EngineError, LoadSettings, ReplyStats, SamplingSettings
from lmdesk.core.serving import (
    ChatJob,
    CompleteJob,
    CountTokensJob,
    EmbedJob,
    JobCancelled,
    LoadJob,
    ModelScheduler,
    QueueFull,
    SetTemplateJob,
    Sink,
    UnknownModel,
)
from lmdesk.core.serving.catalog import resolve
from lmdesk.core.serving.errors import CannotEmbed
from lmdesk.core.serving.pool import ModelPool

SETTINGS = LoadSettings(n_ctx=512, n_batch=256, n_ubatch=256, n_threads=1)
GREEDY = SamplingSettings(temperature=0.0, max_tokens=6)
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture
def scheduler(smollm2_path: Path) -> Iterator[ModelScheduler]:
    scheduler = ModelScheduler(name="smollm2")
    scheduler.start_thread()
    scheduler.submit(LoadJob(smollm2_path, SETTINGS)).wait(60)
    yield scheduler
    scheduler.close()


def _hold(scheduler: ModelScheduler, path: Path, client: str = "chat") -> threading.Event:
    """Keep the scheduler busy with a (real) load whose progress callback waits for release."""
    release, started = threading.Event(), threading.Event()

    def progress(_fraction: float) -> bool:
        started.set()
        release.wait(30)
        return True

    scheduler.submit(LoadJob(path, SETTINGS, on_progress=progress), client=client)
    assert started.wait(30)
    return release


def test_jobs_run_one_at_a_time_in_the_order_they_came(scheduler: ModelScheduler) -> None:
    spans: list[tuple[str, float, float]] = []
    handles = []
    for n in range(3):
        sink = Sink(on_finished=lambda s, n=n: spans.append((f"job{n}", 0.0, time.monotonic())))
        handles.append(scheduler.submit(ChatJob(HELLO, GREEDY), sink))
    results = [h.wait(60) for h in handles]
    assert [name for name, *_ in spans] == ["job0", "job1", "job2"]
    for earlier, later in itertools.pairwise(handles):
        assert earlier.finished_at is not None and later.started_at is not None
        assert later.started_at >= earlier.finished_at
    # Greedy on one engine: the same prompt gives the same reply each time.
    assert all(isinstance(r, ReplyStats) and r.text == results[0].text for r in results)
    assert results[0].text.strip()


def test_chunks_add_up_to_the_reply_and_cancel_stops_within_one_token(
    scheduler: ModelScheduler,
) -> None:
    chunks: list[tuple[str, int]] = []
    holder: list = []

    def on_chunk(text: str, n_tokens: int) -> None:
        chunks.append((text, n_tokens))
        holder[0].cancel()

    handle = scheduler.submit(
        ChatJob(HELLO, SamplingSettings(temperature=0.0, max_tokens=200)), Sink(on_chunk=on_chunk)
    )
    holder.append(handle)
    stats = handle.wait(60)
    assert stats.stop_reason == "user_stop"
    first_chunk_tokens = chunks[0][1]
    assert stats.generated_tokens <= first_chunk_tokens + 1
    assert "".join(text for text, _ in chunks) == stats.text


def test_a_full_queue_refuses_the_seventeenth_and_knows_who_is_busy(
    scheduler: ModelScheduler, smollm2_path: Path
) -> None:
    release = _hold(scheduler, smollm2_path, client="chat")
    try:
        assert scheduler.busy_client == "chat"
        waiting = [scheduler.submit(CountTokensJob(text="hi"), client="api") for _ in range(16)]
        with pytest.raises(QueueFull) as refused:
            scheduler.submit(CountTokensJob(text="hi"), client="api")
        assert refused.value.retry_after_s >= 1
        assert scheduler.waiting == 16
        waiting[3].cancel()
    finally:
        release.set()
    assert [h.wait(60) for i, h in enumerate(waiting) if i != 3] == [1] * 15
    with pytest.raises(JobCancelled):
        waiting[3].wait(1)
    assert scheduler.wait_idle(10) and scheduler.busy_client is None
    assert all(h.queue_wait_s is not None and h.queue_wait_s >= 0 for h in waiting)


def test_count_complete_template_and_embed_jobs(scheduler: ModelScheduler) -> None:
    assert scheduler.submit(CountTokensJob(text="Hello world")).wait(30) == 2
    with_template = scheduler.submit(CountTokensJob(messages=HELLO)).wait(30)
    assert with_template > 5  # ChatML markers, the default system prompt and the question
    stats = scheduler.submit(CompleteJob("The capital of France is", GREEDY)).wait(60)
    assert stats.generated_tokens == 6 and stats.stop_reason == "max_tokens"
    assert scheduler.submit(SetTemplateJob("llama-3")).wait(30) == "llama-3"
    with pytest.raises(CannotEmbed, match="cannot make embeddings"):
        scheduler.submit(EmbedJob(["hello"])).wait(30)


def test_closing_cancels_waiting_jobs_and_unloads(
    scheduler: ModelScheduler, smollm2_path: Path
) -> None:
    release = _hold(scheduler, smollm2_path)
    waiting = scheduler.submit(ChatJob(HELLO, GREEDY))
    closer = threading.Thread(target=scheduler.close)
    closer.start()
    with pytest.raises(JobCancelled):
        waiting.wait(10)
    release.set()
    closer.join(30)
    assert scheduler.report is None and not scheduler.engine.loaded
    with pytest.raises(JobCancelled):
        scheduler.submit(CountTokensJob(text="x"))


# --- the pool ---------------------------------------------------------------------------


@pytest.fixture
def two_models(smollm2_path: Path, tmp_path: Path) -> dict[str, Path]:
    copy = tmp_path / "second-model.gguf"
    shutil.copyfile(smollm2_path, copy)
    return {"SmolLM2-135M-Instruct.Q4_1": smollm2_path, "second-model": copy}


def test_pool_loads_by_id_and_lists_ids_for_an_unknown_name(two_models: dict[str, Path]) -> None:
    pool = ModelPool(catalog=lambda: two_models, settings_for=lambda _p: SETTINGS)
    try:
        with pytest.raises(UnknownModel) as unknown:
            pool.acquire("gpt-4")
        assert unknown.value.available == sorted(two_models)
        model_id, scheduler = pool.acquire("second-MODEL")
        assert model_id == "second-model" and scheduler.report is not None
        assert scheduler.report.path == two_models["second-model"]
        assert pool.acquire(None)[1] is scheduler  # no name: the model in use
        with pytest.raises(UnknownModel, match="JIT loading is off"):
            pool.acquire("SmolLM2-135M-Instruct.Q4_1", jit=False)
        pool.acquire("SmolLM2-135M-Instruct.Q4_1")
        assert set(pool.loaded()) == set(two_models)  # both fit (no limit given)
    finally:
        pool.close()
    assert pool.loaded() == {}


def test_pool_unloads_the_least_recently_used_idle_model_when_the_new_one_does_not_fit(
    two_models: dict[str, Path],
) -> None:
    from lmdesk.core.serving.fit_together import memory_plan

    one_at_a_time = lambda loaded, new: not loaded  # noqa: E731
    pool = ModelPool(
        catalog=lambda: two_models,
        settings_for=lambda _p: SETTINGS,
        fits=one_at_a_time,
        plan_for=lambda path, settings: memory_plan(path, settings, None),
    )
    try:
        _, first = pool.acquire("second-model")
        assert pool.loaded()["second-model"].plan is not None
        pool.acquire("SmolLM2-135M-Instruct.Q4_1")
        assert list(pool.loaded()) == ["SmolLM2-135M-Instruct.Q4_1"]
        assert first.closed and not first.engine.loaded
    finally:
        pool.close()


def test_pool_unloads_a_model_idle_past_its_ttl(two_models: dict[str, Path]) -> None:
    pool = ModelPool(catalog=lambda: two_models, settings_for=lambda _p: SETTINGS)
    try:
        _, scheduler = pool.acquire("second-model", ttl_s=60)
        pool.acquire("SmolLM2-135M-Instruct.Q4_1")  # the default TTL: an hour
        assert pool.reap() == []  # not idle long enough yet
        pool.acquire("second-model", ttl_s=0.2)  # a request's override
        pool.start_reaper(interval_s=0.05)
        deadline = time.monotonic() + 10
        while "second-model" in pool.loaded() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(pool.loaded()) == ["SmolLM2-135M-Instruct.Q4_1"]
        while scheduler.engine.loaded and time.monotonic() < deadline:  # its thread unloads
            time.sleep(0.05)
        assert not scheduler.engine.loaded
    finally:
        pool.close()


def test_resolve_takes_ids_case_and_paths() -> None:
    catalog = {"a-model": Path("/m/a-model.gguf")}
    assert resolve("a-model", catalog) == "a-model"
    assert resolve("A-Model", catalog) == "a-model"
    assert resolve("/m/a-model.gguf", catalog) == "a-model"
    assert resolve("b", catalog) is None


def test_a_sink_that_raises_fails_its_job_and_the_queue_goes_on(
    scheduler: ModelScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_text: str, _n: int) -> None:
        raise RuntimeError("the caller's bug")

    failed = scheduler.submit(ChatJob(HELLO, GREEDY), Sink(on_chunk=broken))
    with pytest.raises(EngineError, match="the caller's bug"):
        failed.wait(60)
    assert scheduler.submit(CountTokensJob(text="Hello world")).wait(30) == 2
    assert "a chat job failed" in caplog.text


def test_an_embedding_model_embeds_and_a_chat_model_says_it_cannot(
    smollm2_path: Path, tmp_path: Path
) -> None:
    from embedding_model import with_pooling

    embedder = with_pooling(smollm2_path, tmp_path / "smollm2-embed.gguf")
    scheduler = ModelScheduler(name="embed")
    scheduler.start_thread()
    try:
        scheduler.submit(LoadJob(embedder, SETTINGS)).wait(60)
        texts = ["The cat sat on the mat.", "A cat was sitting on a mat.", "Stock prices fell."]
        vectors, tokens = scheduler.submit(EmbedJob(texts)).wait(60)
        assert len(vectors) == 3 and len(vectors[0]) == 576  # SmolLM2-135M's n_embd
        assert tokens == sum(scheduler.submit(CountTokensJob(text=t)).wait(30) for t in texts)
        assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in vectors)  # unit length
        cos = [sum(a * b for a, b in zip(vectors[0], v, strict=True)) for v in vectors[1:]]
        assert cos[0] > cos[1]  # the paraphrase is nearer than the unrelated sentence
        again = scheduler.submit(EmbedJob(texts[:1])).wait(60)[0][0]
        assert again == vectors[0]  # the same text, the same vector
    finally:
        scheduler.close()


def test_the_pool_serves_an_adopted_scheduler_the_chat_loaded(
    scheduler: ModelScheduler, smollm2_path: Path
) -> None:
    pool = ModelPool(catalog=dict, settings_for=lambda _p: SETTINGS)
    pool.adopt("chat-model", smollm2_path, scheduler)
    model_id, found = pool.acquire("chat-model", jit=False)
    assert (model_id, found) == ("chat-model", scheduler)
    assert pool.acquire(None)[1] is scheduler
    release = _hold(scheduler, smollm2_path, client="chat")
    try:
        assert pool.busy_client() == "chat"  # what the API's side can show
    finally:
        release.set()
    assert scheduler.wait_idle(30) and pool.busy_client() is None
    assert pool.reap(now=time.monotonic() + 10**6) == []  # no TTL: never unloaded for idling
    pool.close()
    assert pool.loaded() == {} and not scheduler.closed and scheduler.engine.loaded  # the app's


def test_the_pool_reads_the_safety_margin_at_each_decision(smollm2_path: Path) -> None:
    """A margin changed in Settings counts for the next model at once, not at the next start."""
    from lmdesk.core.estimate import estimate
    from lmdesk.core.gguf import read_model
    from lmdesk.core.gpus import system_memory
    from lmdesk.core.serving.fit_together import system_fits

    plan = estimate(read_model(smollm2_path), LoadSettings(n_ctx=512))
    margin = [0]
    fits = system_fits(None, lambda: margin[0])
    assert fits([], plan)
    margin[0] = system_memory().available_bytes  # no room left beside the margin
    assert not fits([], plan)
    margin[0] = 0
    assert fits([], plan)
