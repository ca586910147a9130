"""On a machine with an NVIDIA GPU: the estimate against CUDA's real buffers and NVML.

    python bench/gpu_check.py [MODEL.gguf] [--out DIR]

Needs a CUDA build of llama-cpp-python (``python install.py --gpu cuda``). It
1. records the real NVML readings as a fixture (``DIR/nvml_<gpu>.json``) for the
   probe's tests;
2. loads the model at several GPU-layer counts and contexts, and prints the
   estimator's GPU column beside the CUDA buffers llama.cpp reports and the
   change in NVML's used memory (which includes the CUDA context: the
   estimator's "overhead").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import llama_build_info, probe_gpus
from lmdesk.core.gpus.record import record_nvml
from lmdesk.core.llama_memory import measure
from lmdesk.core.load_settings import LoadSettings

MiB = 1024 * 1024


def nvml_used() -> int:
    import pynvml

    pynvml.nvmlInit()
    try:
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    finally:
        pynvml.nvmlShutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
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

    from lmdesk.core.starter import given_or_starter_model

    path = given_or_starter_model(args.model)
    model = read_model(path)
    rows = []
    header = f"{'ngl':>4} {'ctx':>6} | {'est W':>8} {'est KV':>8} {'est C':>8} {'est tot':>8} | "
    header += f"{'cuda W':>8} {'cuda KV':>8} {'cuda C':>8} | {'NVML Δ':>8}"
    print(header)
    for n_ctx in (2048, 8192):
        for ngl in (0, 1, model.n_layer // 2, model.n_layer + 1):
            settings = LoadSettings(n_gpu_layers=ngl, n_ctx=n_ctx, flash_attn=None)
            plan = estimate(model, settings, [GpuTarget(probe.gpus[0].name)]).gpus[0]
            before = nvml_used()
            seen: list[int] = []
            buffers = measure(
                path, settings, while_loaded=lambda seen=seen: seen.append(nvml_used())
            )
            cuda = next((b for name, b in buffers.items() if name.startswith("CUDA")), None)
            delta = seen[0] - before if seen else 0
            row = {
                "n_gpu_layers": ngl,
                "n_ctx": n_ctx,
                "estimate": plan.as_dict(),
                "cuda": cuda.__dict__ if cuda else None,
                "nvml_delta": delta,
            }
            rows.append(row)
            c = cuda or type("Z", (), {"weights": 0, "kv_cache": 0, "compute": 0})()
            print(
                f"{ngl:>4} {n_ctx:>6} | {plan.weights / MiB:8.1f} {plan.kv_cache / MiB:8.1f} "
                f"{plan.compute / MiB:8.1f} {plan.total / MiB:8.1f} | {c.weights / MiB:8.1f} "
                f"{c.kv_cache / MiB:8.1f} {c.compute / MiB:8.1f} | {delta / MiB:8.1f}"
            )
    (out / "gpu_check.json").write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
