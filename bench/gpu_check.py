"""On a machine with an NVIDIA GPU: the estimate against CUDA's real buffers and NVML.

    python bench/gpu_check.py [MODEL.gguf ...] [--out DIR]

Needs a CUDA build of llama-cpp-python (``python install.py --gpu cuda``, or
``bench/device/run.sh`` on a machine without network). It
1. records the real NVML readings as a fixture (``DIR/nvml_recorded.json``) for the
   probe's tests (tests/fixtures/nvml/);
2. loads each model at several GPU-layer counts and contexts, and prints the
   estimator's GPU column beside the CUDA buffers llama.cpp reports and the change in
   NVML's used memory (which also holds the CUDA context: the estimator's "overhead");
3. runs bench/speed_model.py's GPU sweep: predicted against measured tokens/s per
   GPU-layer count (``DIR/speed_model_gpu.json``).

Without MODEL it uses files shaped like Llama 3.1 8B and Llama 3.2 3B
(tests/shaped_models.py: real headers over zero weights in sparse files, which
llama.cpp loads and allocates for exactly as for the real models), so it needs
neither Hugging Face nor PyPI. The table and every row go to ``DIR/gpu_check.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import llama_build_info, probe_gpus
from lmdesk.core.gpus.record import record_nvml
from lmdesk.core.llama_memory import Buffers, measure
from lmdesk.core.load_settings import LoadSettings

MiB = 1024 * 1024
CONTEXTS = (4096, 16384)


def nvml_used() -> int:
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    finally:
        pynvml.nvmlShutdown()


def shaped_models(folder: Path) -> list[Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from shaped_models import write_loadable

    return list(write_loadable(folder, ["llama-3.1-8b", "llama-3.2-3b"]).values())


def check_model(path: Path, gpu_name: str) -> list[dict[str, object]]:
    """Every grid point of one model: estimate, CUDA buffers, NVML change."""
    model = read_model(path)
    rows: list[dict[str, object]] = []
    print(f"\n== {path.name}")
    print(
        f"{'ngl':>4} {'ctx':>6} {'kv':>8} | {'est W':>8} {'est KV':>8} {'est C':>8} "
        f"{'est tot':>8} | {'cuda W':>8} {'cuda KV':>8} {'cuda C':>8} | {'NVML Δ':>8}"
    )
    for n_ctx in CONTEXTS:
        for kv, flash in (("f16", False), ("q8_0", True)):
            for ngl in (0, 1, model.n_layer // 2, model.n_layer + 1):
                settings = LoadSettings(
                    n_gpu_layers=ngl, n_ctx=n_ctx, type_k=kv, type_v=kv, flash_attn=flash
                )
                plan = estimate(model, settings, [GpuTarget(gpu_name)]).gpus[0]
                before = nvml_used()
                seen: list[int] = []
                buffers = measure(
                    path, settings, while_loaded=lambda seen=seen: seen.append(nvml_used())
                )
                cuda = next(
                    (b for name, b in buffers.items() if name.startswith("CUDA")), Buffers()
                )
                delta = seen[0] - before if seen else 0
                rows.append(
                    {
                        "model": path.name,
                        "n_gpu_layers": ngl,
                        "n_ctx": n_ctx,
                        "kv": kv,
                        "estimate": plan.as_dict(),
                        "cuda": cuda.__dict__,
                        "nvml_delta": delta,
                    }
                )
                print(
                    f"{ngl:>4} {n_ctx:>6} {kv:>8} | {plan.weights / MiB:8.1f} "
                    f"{plan.kv_cache / MiB:8.1f} {plan.compute / MiB:8.1f} "
                    f"{plan.total / MiB:8.1f} | {cuda.weights / MiB:8.1f} "
                    f"{cuda.kv_cache / MiB:8.1f} {cuda.compute / MiB:8.1f} | {delta / MiB:8.1f}",
                    flush=True,
                )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="GGUF files (default: 8B and 3B shapes)")
    parser.add_argument("--out", default=".", help="folder for the NVML fixture and the JSON")
    args = parser.parse_args()
    build = llama_build_info()
    if not build.has_cuda:
        print(f"llama.cpp here has {build.backends}, no CUDA: run python install.py --gpu cuda")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fixture = record_nvml(description="recorded by bench/gpu_check.py")
    (out / "nvml_recorded.json").write_text(json.dumps(fixture, indent=2))
    probe = probe_gpus()
    print(f"GPUs: {[g.name for g in probe.gpus]}  (fixture: {out / 'nvml_recorded.json'})")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="lmdesk-gpu-check-") as folder:
        paths = [Path(p) for p in args.models] or shaped_models(Path(folder))
        for path in paths:
            rows += check_model(path, probe.gpus[0].name)
            (out / "gpu_check.json").write_text(json.dumps(rows, indent=2, default=str))
    # The speed model on this card: predicted vs measured tok/s over a GPU-layer sweep.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from speed_model import gpu_sweep

    speed = gpu_sweep(repetitions=2)
    (out / "speed_model_gpu.json").write_text(json.dumps(speed, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
