"""How close lmdesk's memory estimate is to what llama.cpp really allocates.

    python bench/estimate_accuracy.py [MODEL.gguf | --shapes | --moe | --swa | --mla | --hybrid]
                                      [--split | --two-devices] [--json]
                                      [--no-extra-buffers] [--max-device-gib N]

For each grid point the model is loaded with llama-cpp-python and the buffer
sizes llama.cpp logs are set beside the estimate. ``--split`` offloads layers
to a loopback RPC server standing in for a GPU and checks the GPU column.
``--shapes`` runs the grid on files shaped like Llama 3.1 8B, Llama 3.2 3B and
Qwen2.5 0.5B (tests/shaped_models.py: real headers, all-zero weights in sparse
files, which llama.cpp loads and allocates for exactly as for the real models).
``--swa`` runs Gemma 2 27B and Gemma 3 12B shapes (interleaved sliding-window layers) at
contexts 2048 and 8192 with full or window-sized caches. ``--moe`` runs files shaped
like Qwen3-30B-A3B and gpt-oss-20b (mixture of experts) at
0, 24 and all GPU layers with 0, half and all layers' experts kept on the CPU
(``n_cpu_moe``), on the CPU alone and (with ``--split``) over the RPC device; there every
device has the CPU's bars. The RPC server really holds what is offloaded (zeros, but
resident), so points whose device share exceeds ``--max-device-gib`` (default: a third of
the available RAM) are skipped and listed.
``--mla`` runs a DeepSeek-V2-Lite shape (multi-head latent attention: the cache holds the
latent as K and no V) and ``--hybrid`` an LFM2 1.2B shape (short-convolution state in 10 of
16 blocks, a KV cache in 6): contexts 2048 / 8192, micro-batch 128 / 512, f16 or q8_0 with
flash attention, on the CPU and (``--split``) with 1, 4 (MLA) or 8 and all (LFM2) layers on
the RPC device; MLA without the CPU's repacked copies (llama.cpp aborts with them here).
``--two-devices`` splits a dense model (the starter model or MODEL, and the Qwen2.5 0.5B
shape) over two loopback RPC servers at tensor splits 1:1 and 2:1, all layers and about
half, flash attention off and on, and checks each device. These modes have the CPU's bars
on every device.
Bars: weights and KV within 0.5 %, compute within 5 %, total within 2 %; GPU
weights and KV within 1 %. Exit status 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import read_model
from lmdesk.core.llama_memory import Row, RpcServer, compare
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.starter import given_or_starter_model

BARS = {
    "weights": 0.005,
    "repack": 0.005,
    "kv_cache": 0.005,
    "compute": 0.05,
    "total": 0.02,
    "output": 0.05,
}
SPLIT_BARS = {"weights": 0.01, "kv_cache": 0.01}
MiB = 1024 * 1024


def grid() -> list[LoadSettings]:
    points = []
    for n_ctx in (512, 2048, 8192):
        for n_ubatch in (128, 512):
            points.append(LoadSettings(n_ctx=n_ctx, n_ubatch=n_ubatch, flash_attn=False))
            points.append(
                LoadSettings(
                    n_ctx=n_ctx, n_ubatch=n_ubatch, flash_attn=True, type_k="q8_0", type_v="q8_0"
                )
            )
    return points


def split_grid(n_layer: int) -> list[LoadSettings]:
    return [
        base.with_changes(n_gpu_layers=layers)
        for base in grid()
        if base.n_ubatch == 512
        for layers in (0, 1, n_layer // 2, n_layer + 1)
    ]


def moe_grid(n_layer: int, split: bool) -> list[LoadSettings]:
    """Layers 0 / 24 / all, experts of 0 / half / all layers on the CPU, flash off and on."""
    layer_counts = (0, 24, n_layer + 1) if split else (0,)
    return [
        LoadSettings(n_ctx=4096, n_gpu_layers=layers, n_cpu_moe=experts, flash_attn=flash)
        for layers in layer_counts
        for experts in (0, n_layer // 2, n_layer)
        for flash in (False, True)
        if split or experts == 0
    ]


def swa_grid(n_layer: int, split: bool) -> list[LoadSettings]:
    """Sliding-window models: contexts 2048 / 8192, full or window-sized SWA caches."""
    return [
        LoadSettings(
            n_ctx=n_ctx, n_gpu_layers=layers, swa_full=full, flash_attn=flash, type_k=kv, type_v=kv
        )
        for layers in ((0, 8, n_layer + 1) if split else (0,))
        for n_ctx in (2048, 8192)
        for full in (True, False)
        for flash, kv in ((False, "f16"), (True, "q8_0"))
    ]


def arch_grid(n_layer: int, split: bool, kind: str) -> list[LoadSettings]:
    """MLA and hybrid: contexts, micro-batches and KV types; the RPC device with ``split``."""
    if split:
        layer_counts = (1, 4) if kind == "mla" else (8, n_layer + 1)
        return [
            LoadSettings(n_ctx=4096, n_gpu_layers=layers, flash_attn=flash, type_k=kv, type_v=kv)
            for layers in layer_counts
            for flash, kv in ((False, "f16"), (True, "q8_0"))
        ]
    return [
        LoadSettings(n_ctx=n_ctx, n_ubatch=n_ubatch, flash_attn=flash, type_k=kv, type_v=kv)
        for n_ctx in (2048, 8192)
        for n_ubatch in (128, 512)
        for flash, kv in ((False, "f16"), (True, "q8_0"))
    ]


def two_device_grid(n_layer: int) -> list[LoadSettings]:
    """Two devices: tensor split 1:1 and 2:1, all layers and about half, flash off and on."""
    return [
        LoadSettings(n_ctx=4096, n_gpu_layers=layers, tensor_split=split, flash_attn=flash)
        for split in ((1.0, 1.0), (2.0, 1.0))
        for layers in (n_layer + 1, n_layer // 2 + 1)
        for flash in (False, True)
    ]


def available_ram() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 8 * 1024**3


def misses(rows: list[Row], bars: dict[str, float], device: str | None = None) -> list[Row]:
    return [
        r
        for r in rows
        if r.component in bars
        and (device is None or r.device == device)
        and abs(r.error) > bars[r.component]
    ]


def label(s: LoadSettings) -> str:
    kv = f"{s.type_k}{'+FA' if s.flash_attn else ''}"
    experts = f" cpu-moe {s.n_cpu_moe:2}" if s.n_cpu_moe else ""
    window = "" if s.swa_full else " swa-cache"
    split = f" split {':'.join(f'{w:g}' for w in s.tensor_split)}" if s.tensor_split else ""
    return (
        f"ctx {s.n_ctx:5} ub {s.n_ubatch:3} {kv:8} ngl {s.n_gpu_layers:2}{experts}{window}{split}"
    )


def shaped_models(folder: Path, kind: str = "") -> list[Path]:
    """Loadable files shaped like real models, written (sparse) into ``folder``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from shaped_models import (
        HYBRID_LOADABLE,
        LOADABLE,
        MLA_LOADABLE,
        MOE_LOADABLE,
        SWA_LOADABLE,
        write_loadable,
    )

    keys = {
        "moe": MOE_LOADABLE,
        "swa": SWA_LOADABLE,
        "mla": MLA_LOADABLE,
        "hybrid": HYBRID_LOADABLE,
        "two": ["qwen2.5-0.5b"],
    }.get(kind, LOADABLE)
    return list(write_loadable(folder, keys).values())


def run_grid(
    path: Path,
    device: int | None,
    no_extra_buffers: bool,
    quiet: bool,
    kind: str = "",
    max_device: int = 0,
    servers: Sequence[RpcServer] = (),
) -> tuple[list[dict[str, object]], list[Row], float]:
    """Estimate and measure every grid point of one model: (rows, misses, seconds measuring)."""
    model = read_model(path)
    if kind == "mla":
        # With repacked CPU copies llama.cpp aborts on this shape on the CPU alone
        # (GGML_ASSERT(*cur_backend_id != -1), ggml-backend.cpp), and they hold 5.6 GiB of RAM.
        no_extra_buffers = True
    split = device is not None or bool(servers)
    moe = bool(kind)  # the other grids: every device has the CPU's bars
    if kind in ("mla", "hybrid"):
        points, bars = arch_grid(model.n_layer, split, kind), BARS
    elif kind == "two":
        points, bars = two_device_grid(model.n_layer), BARS
    elif kind:
        points = (moe_grid if kind == "moe" else swa_grid)(model.n_layer, split)
        bars = BARS
    else:
        points = split_grid(model.n_layer) if split else grid()
        bars = SPLIT_BARS if split else BARS
    out: list[dict[str, object]] = []
    failed: list[Row] = []
    t_measure = 0.0
    for settings in points:
        if split and max_device:
            targets = [GpuTarget(f"GPU {i}", overhead=0) for i in range(max(len(servers), 1))]
            on_device = max(d.total for d in estimate(model, settings, targets).gpus)
            if on_device > max_device:
                out.append({"model": path.name, "settings": label(settings), "skipped": on_device})
                if not quiet:
                    print(
                        f"\n{label(settings)}   skipped: {on_device / 2**30:.1f} GiB on the device"
                    )
                continue
        started = time.perf_counter()
        _, rows = compare(
            model,
            path,
            settings,
            device=device,
            servers=servers,
            extra_buffers=not no_extra_buffers,
        )
        t_measure += time.perf_counter() - started
        bad = misses(rows, bars, None if moe or not split else "GPU")
        failed += bad
        out.append(
            {"model": path.name, "settings": label(settings), "rows": [r.as_dict() for r in rows]}
        )
        if not quiet:
            print(f"\n{label(settings)}" + ("   MISSED" if bad else ""))
            for r in rows:
                print(
                    f"  {r.device:4} {r.component:9} estimate {r.estimate / MiB:9.2f} MiB"
                    f"  actual {r.actual / MiB:9.2f} MiB  error {r.error:+7.2%}"
                )
    return out, failed, t_measure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="a GGUF file (default: the starter model)")
    parser.add_argument("--shapes", action="store_true", help="8B, 3B and 0.5B-shaped files")
    parser.add_argument("--moe", action="store_true", help="Qwen3-30B-A3B and gpt-oss-20b shapes")
    parser.add_argument("--swa", action="store_true", help="Gemma 2 27B and Gemma 3 12B shapes")
    parser.add_argument("--mla", action="store_true", help="a DeepSeek-V2-Lite shape (MLA)")
    parser.add_argument("--hybrid", action="store_true", help="an LFM2 1.2B shape (hybrid)")
    parser.add_argument("--split", action="store_true", help="check the GPU column over RPC")
    parser.add_argument(
        "--two-devices",
        action="store_true",
        help="split a dense model over two RPC devices at 1:1 and 2:1",
    )
    parser.add_argument(
        "--max-device-gib",
        type=float,
        help="skip points that put more than this on the RPC device (default: RAM / 3)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-extra-buffers",
        action="store_true",
        help="no AMX / repacked CPU weight copies (what lmdesk's engine does on AMX CPUs)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lmdesk-shapes-") as folder:
        kind = next(
            (k for k, on in (("moe", args.moe), ("swa", args.swa), ("mla", args.mla)) if on),
            "hybrid" if args.hybrid else "two" if args.two_devices else "",
        )
        if args.shapes or kind not in ("", "two"):
            paths = shaped_models(Path(folder), kind)
        else:
            paths = [given_or_starter_model(args.model)]
            if kind == "two" and not args.model:
                paths += shaped_models(Path(folder), kind)
        max_device = int((args.max_device_gib or available_ram() / 3 / 2**30) * 2**30)
        out, failed, t_measure, n_points = [], [], 0.0, 0
        skipped: list[str] = []
        with (
            RpcServer() if args.split else nullcontext() as server,
            RpcServer() if args.two_devices else nullcontext() as first,
            RpcServer() if args.two_devices else nullcontext() as second,
        ):
            servers = [first, second] if first and second else []
            for path in paths:
                if not args.json:
                    print(f"\n== {path.name}")
                grid_out, grid_failed, seconds = run_grid(
                    path,
                    server.device if server else None,
                    args.no_extra_buffers,
                    args.json,
                    kind=kind,
                    max_device=max_device,
                    servers=servers,
                )
                out += grid_out
                failed += grid_failed
                t_measure += seconds
                n_points += sum("rows" in point for point in grid_out)
                skipped += [f"{p['model']} {p['settings']}" for p in grid_out if "skipped" in p]
        model, points = read_model(paths[0]), grid()
    started = time.perf_counter()
    n_estimates = 1000
    gpus = [GpuTarget("GPU 0")]
    for i in range(n_estimates):
        estimate(model, points[i % len(points)], gpus)
    t_estimate = (time.perf_counter() - started) / n_estimates
    per_measure = t_measure / n_points
    summary = {
        "points": n_points,
        "missed": len(failed),
        "skipped": skipped,
        "estimate_ms": t_estimate * 1000,
        "llama_load_ms": per_measure * 1000,
        "speedup": per_measure / t_estimate,
    }
    if args.json:
        print(json.dumps({"grid": out, "summary": summary}, indent=2))
    else:
        print(f"\n{n_points} settings, {len(failed)} components outside the bars.")
        if skipped:
            print(f"{len(skipped)} skipped (too much for the RPC device's RAM here):")
            print("\n".join(f"  {name}" for name in skipped))
        print(
            f"estimate: {t_estimate * 1e6:.0f} µs per setting; llama.cpp load + context: "
            f"{per_measure * 1000:.0f} ms per setting; ratio {summary['speedup']:.0f}x"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
