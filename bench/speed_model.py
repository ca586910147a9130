"""Predicted against measured tokens/s: the speed model's check (issue 12).

    python bench/speed_model.py [--quick] [--gpu] [--out FILE.json]

On this machine's CPU, for the starter model (SmolLM2 135M Q4_1) and the shaped
Qwen2.5 0.5B (Q8_0) and Llama 3.2 3B (Q4_K_M) files (tests/shaped_models.py: real
headers over zero weights, which llama.cpp loads and runs for real), at two
contexts and 1 and 2 threads: measure prompt and generation tokens/s with
`core.speed.bench` (the medians of the repetitions) and print them beside
`core.speed.predict`'s figures for the same settings, prompt length and depth,
with the ratio predicted / measured. Bar: within ±30 % (0.70..1.30).

"CPU share" is the CPU time the process got over wall time x threads during the
measurement: on a shared machine, well below 1 means others took the cores and the
measurement is low for that reason (the probe keeps its fastest run, what the machine
can do). The CPU's kernel rates are measured afresh (``refresh=True``) just before each
model's runs, since other processes change them. The bigger files use shorter
prompts and fewer generated tokens, so the whole run stays within minutes on 2
cores; the prediction uses the same lengths.

``--per-token`` times each generated token and each prompt on its own and takes the
25th percentile (the prompt: the fastest of the repetitions) instead of the median of
whole runs: on a machine others keep busy, it shows what the CPU does when it is left
alone, which is what the probe's rates are (a check of the model, not of the app).

``--gpu`` (on a machine with an NVIDIA GPU and a CUDA build; bench/gpu_check.py
calls it) sweeps the GPU layers of the shaped 3B and 8B files instead, with the
card's NVML bandwidth.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lmdesk.core.cpu_threads import ThreadCounts
from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed import cpu_speed, model_work, predict
from lmdesk.core.speed.bench import run_bench, sweep_layers

BAR = 0.30
# name -> (path factory key, longest prompt, generated tokens, contexts)
CPU_POINTS = {
    "SmolLM2 135M Q4_1": (None, 512, 64, (256, 1024)),
    "Qwen2.5 0.5B Q8_0 (shaped)": ("qwen2.5-0.5b", 256, 32, (256, 1024)),
    "Llama 3.2 3B Q4_K_M (shaped)": ("llama-3.2-3b", 64, 8, (256, 1024)),
}
QUICK = {"SmolLM2 135M Q4_1": (None, 256, 32, (256, 1024))}


def model_paths(folder: Path) -> dict[str | None, Path]:
    from shaped_models import write_loadable

    from lmdesk.core.starter import given_or_starter_model

    paths: dict[str | None, Path] = {None: given_or_starter_model(None)}
    for key, path in write_loadable(folder, ["qwen2.5-0.5b", "llama-3.2-3b"]).items():
        paths[key] = path
    return paths


def ratio(predicted: float | None, measured: float) -> float:
    return (predicted or 0.0) / measured if measured > 0 else float("inf")


def cpu_check(
    points: dict[str, tuple[str | None, int, int, tuple[int, ...]]],
    reps: int,
    per_token: bool = False,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        paths = model_paths(Path(folder))
        for name, (key, longest, generated, contexts) in points.items():
            path = paths[key]
            model = read_model(path)
            for threads in (1, 2):
                counts = ThreadCounts(threads, threads)
                work = model_work(model)
                cpu = cpu_speed(work.main_type, counts, work.head_dim, refresh=True)
                for ctx in contexts:
                    prompt = max(1, min(longest, ctx - generated))
                    settings = LoadSettings(n_ctx=ctx, n_threads=threads)
                    wall, own = time.perf_counter(), process.cpu_times()
                    if per_token:
                        prompt_tps, generation_tps = least_disturbed(
                            path, settings, prompt, generated, reps
                        )
                    else:
                        (result,) = run_bench(
                            path,
                            settings,
                            [0],
                            repetitions=reps,
                            prompt_tokens=prompt,
                            generated_tokens=generated,
                        )
                        prompt_tps, generation_tps = result.prompt_tps, result.generation_tps
                    used = process.cpu_times()
                    busy = used.user + used.system - own.user - own.system
                    share = busy / ((time.perf_counter() - wall) * threads)
                    guess = predict(
                        model,
                        estimate(model, settings),
                        cpu,
                        depth=prompt + generated // 2,
                        prompt_tokens=prompt,
                    )
                    row = {
                        "model": name,
                        "threads": threads,
                        "ctx": ctx,
                        "prompt_tokens": prompt,
                        "generated_tokens": generated,
                        "predicted_generation_tps": guess.generation_tps,
                        "measured_generation_tps": generation_tps,
                        "generation_ratio": ratio(guess.generation_tps, generation_tps),
                        "predicted_prompt_tps": guess.prompt_tps,
                        "measured_prompt_tps": prompt_tps,
                        "prompt_ratio": ratio(guess.prompt_tps, prompt_tps),
                        "cpu_read_gb_s": cpu.read_bytes_per_s / 1e9,
                        "cpu_gflops": cpu.flops / 1e9,
                        "cpu_share": share,
                    }
                    rows.append(row)
                    print_row(row)
    return rows


def least_disturbed(
    path: Path, settings: LoadSettings, prompt: int, generated: int, reps: int
) -> tuple[float, float]:
    """(prompt tok/s, generation tok/s): the fastest prompt, the 25th-percentile token."""
    import random

    from lmdesk.core.engine.loader import load_native

    native = load_native(path, settings).native
    try:
        rng = random.Random(0)
        tokens = [t for t in range(native.n_vocab) if t not in {native.bos, native.eos}]
        prompts: list[float] = []
        steps: list[float] = []
        for _ in range(reps):
            native.clear()
            started = time.perf_counter()
            native.decode(rng.choices(tokens, k=prompt))
            prompts.append(time.perf_counter() - started)
            for _ in range(generated):
                started = time.perf_counter()
                native.decode([rng.choice(tokens)])
                steps.append(time.perf_counter() - started)
    finally:
        native.close()
    steps.sort()
    return prompt / min(prompts), 1.0 / steps[len(steps) // 4]


def print_row(row: dict[str, object]) -> None:
    def mark(r: float) -> str:
        return "ok" if abs(r - 1) <= BAR else "MISS"

    g, p = float(row["generation_ratio"]), float(row["prompt_ratio"])  # type: ignore[arg-type]
    print(
        f"{row['model'][:28]:28} t={row['threads']} ctx={row['ctx']:>5} "
        f"gen {row['predicted_generation_tps']:8.2f} / {row['measured_generation_tps']:8.2f}"
        f" = {g:5.2f} {mark(g):4}  "
        f"prompt {row['predicted_prompt_tps']:8.1f} / {row['measured_prompt_tps']:8.1f}"
        f" = {p:5.2f} {mark(p):4}  CPU share {float(row.get('cpu_share', 1.0)):.2f}",  # type: ignore[arg-type]
        flush=True,
    )


def gpu_sweep(repetitions: int) -> list[dict[str, object]]:
    from shaped_models import write_loadable

    from lmdesk.core.gpus import probe_gpus

    probe = probe_gpus()
    if not probe.gpus:
        print(f"no NVIDIA GPU: {probe.reason}")
        return []
    gpu = probe.gpus[0]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as folder:
        for key, path in write_loadable(Path(folder), ["llama-3.2-3b", "llama-3.1-8b"]).items():
            model = read_model(path)
            counts = ThreadCounts(1, 1)
            work = model_work(model)
            cpu = cpu_speed(work.main_type, counts, work.head_dim, refresh=True)
            settings = LoadSettings(n_ctx=4096, n_threads=1)
            for result in run_bench(
                path, settings, sweep_layers(model.n_layer), repetitions=repetitions
            ):
                plan = estimate(
                    model,
                    settings.with_changes(n_gpu_layers=result.gpu_layers),
                    [GpuTarget(gpu.name)],
                )
                guess = predict(model, plan, cpu, [gpu])
                row = {
                    "model": key,
                    "threads": 1,
                    "ctx": 4096,
                    "gpu_layers": result.gpu_layers,
                    "predicted_generation_tps": guess.generation_tps,
                    "measured_generation_tps": result.generation_tps,
                    "generation_ratio": ratio(guess.generation_tps, result.generation_tps),
                    "predicted_prompt_tps": guess.prompt_tps,
                    "measured_prompt_tps": result.prompt_tps,
                    "prompt_ratio": ratio(guess.prompt_tps, result.prompt_tps),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the starter model only")
    parser.add_argument("--gpu", action="store_true", help="the GPU sweep (NVIDIA machines)")
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument(
        "--per-token", action="store_true", help="the least-disturbed token and prompt"
    )
    parser.add_argument("--out", type=Path, help="write every row as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("LMDESK_HOME", tempfile.mkdtemp(prefix="lmdesk-speed-"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} before the run")
    print("predicted / measured = ratio; bar 0.70..1.30")
    rows = (
        gpu_sweep(args.repetitions)
        if args.gpu
        else cpu_check(QUICK if args.quick else CPU_POINTS, args.repetitions, args.per_token)
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average {load} after the run (other work on the machine moves every figure)")
    within = sum(
        1
        for r in rows
        for k in ("generation_ratio", "prompt_ratio")
        if abs(float(r[k]) - 1) <= BAR  # type: ignore[arg-type]
    )
    print(f"{within} of {2 * len(rows)} figures within ±{BAR:.0%}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
