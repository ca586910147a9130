"""What splitting a model over `lmdesk worker`s costs: tokens/s and load time, on loopback.

    python bench/rpc_split.py [MODEL.gguf] [--tokens N] [--rounds R] [--json]
    (default: the starter model, 128 tokens, 3 rounds)

Contenders, each loaded with lmdesk's engine (1 thread here, 1 thread per worker, n_ctx
2048, flash attention off, the same greedy request):

- local: every layer on this process's CPU;
- local in a child: the same, in an `IsolatedEngine` (the child process a load over
  workers runs in, so a dying worker cannot take the app down): the pipe's cost per token;
- 1 worker: the repeating blocks and the output layer on one loopback worker;
- 2 workers: the same layers split evenly over two loopback workers.

Every load goes through `EngineSwitch`, as in the app and `lmdesk serve`: a load over
workers runs in a child process.

The workers run on the same machine, so the link is loopback (no bandwidth limit, tens of
microseconds per round trip): what is left is llama.cpp's RPC cost per graph and per
device boundary. Then the load time over RPC: a fresh worker without ``--cache``, and one
with ``--cache DIR`` loaded twice (the second load sends tensor hashes instead of bytes;
llama.cpp caches tensors of 10 MiB or more). Medians of R rounds; figures in
docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmdesk.core.engine import ReplyStats
from lmdesk.core.engine.isolated import IsolatedEngine
from lmdesk.core.engine.switch import EngineSwitch
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.sampling import SamplingSettings
from lmdesk.core.starter import given_or_starter_model

LMDESK = [sys.executable, "-c", "import sys; from lmdesk.cli import main; sys.exit(main())"]
PROMPT = "Write a long story about a dragon who learns to sing."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def workers(count: int, cache: Path | None = None) -> Iterator[tuple[str, ...]]:
    started = []
    try:
        for _ in range(count):
            extra = ["--cache", str(cache)] if cache is not None else []
            process = subprocess.Popen(
                [
                    *LMDESK,
                    "worker",
                    "--port",
                    str(_free_port()),
                    "--json",
                    "--threads",
                    "1",
                    *extra,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            assert process.stdout is not None
            started.append((process, json.loads(process.stdout.readline())["endpoint"]))
        yield tuple(endpoint for _, endpoint in started)
    finally:
        for process, _ in started:
            process.kill()
            process.wait(10)


def generate_tps(
    path: Path, settings: LoadSettings, tokens: int, rounds: int, *, child: bool = False
) -> float:
    engine = IsolatedEngine() if child else EngineSwitch()
    sampling = SamplingSettings(temperature=0, max_tokens=tokens, seed=1)
    try:
        engine.load(path, settings)
        speeds = []
        for _ in range(rounds):
            engine.reset_cache()
            stats = [c for c in engine.complete(PROMPT, sampling) if isinstance(c, ReplyStats)]
            speeds.append(stats[-1].tokens_per_s)
        return statistics.median(speeds)
    finally:
        engine.close()


def load_s(path: Path, settings: LoadSettings) -> float:
    engine = EngineSwitch()
    try:
        started = time.perf_counter()
        engine.load(path, settings)
        return time.perf_counter() - started
    finally:
        engine.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = given_or_starter_model(args.model)
    n_layer = read_model(path).n_layer
    base = LoadSettings(n_ctx=2048, n_threads=1, flash_attn=False)
    results: dict[str, float] = {}
    results["local tok/s"] = generate_tps(path, base, args.tokens, args.rounds)
    results["local in a child tok/s"] = generate_tps(
        path, base, args.tokens, args.rounds, child=True
    )
    for count in (1, 2):
        with workers(count) as endpoints:
            split = base.with_changes(
                n_gpu_layers=n_layer + 1, rpc=endpoints, tensor_split=(1.0,) * count
            )
            key = f"{count} worker{'s' if count > 1 else ''} tok/s"
            results[key] = generate_tps(path, split, args.tokens, args.rounds)
    full = base.with_changes(n_gpu_layers=n_layer + 1)
    with workers(1) as endpoints:
        results["load s, no cache"] = statistics.median(
            load_s(path, full.with_changes(rpc=endpoints)) for _ in range(args.rounds)
        )
    with tempfile.TemporaryDirectory() as cache, workers(1, Path(cache)) as endpoints:
        results["load s, cache cold"] = load_s(path, full.with_changes(rpc=endpoints))
        results["load s, cache warm"] = statistics.median(
            load_s(path, full.with_changes(rpc=endpoints)) for _ in range(args.rounds)
        )
    results["local load s"] = statistics.median(load_s(path, base) for _ in range(args.rounds))
    if args.json:
        print(json.dumps({"model": path.name, **results}, indent=2))
    else:
        print(path.name)
        for key, value in results.items():
            print(f"  {key:24} {value:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
