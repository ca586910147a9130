"""What each subcommand does; each returns a JSON-able dict (``--json``) or text."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.cpu_threads import threads_for
from ..core.estimate import (
    CUDA_OVERHEAD,
    GpuTarget,
    MemoryPlan,
    check_main_gpu,
    estimate,
    fit,
    judge,
    remote_devices,
)
from ..core.estimate.projector import (
    ProjectorError,
    ProjectorInfo,
    gpu_bytes,
    read_projector,
    with_projector,
)
from ..core.gguf import ModelInfo, read_model
from ..core.gpus import WHAT_IF_CARDS, GpuInfo, find_what_if
from ..core.gpus.cards import WHAT_IF_PAIRS, find_what_if_group
from ..core.load_plan import default_load_settings
from ..core.load_settings import KV_CACHE_TYPES, LoadSettings
from ..core.rpc_worker import parse_endpoint
from ..core.settings import Settings, load_settings
from ..core.speed import Prediction, cpu_speed, model_work, predict
from ..core.speed.words import speed_line
from ..core.units import format_size
from .tables import layer_span, plan_table, table


@dataclass(frozen=True)
class Gpus:
    """The GPUs to plan for: from ``--vram``, else NVML's; none means the CPU alone."""

    names: tuple[str, ...]
    free: tuple[int, ...]
    none_reason: str = ""
    cards: tuple[GpuInfo, ...] = ()
    """The cards' specs when known (a what-if card, NVML's): the speed model needs them."""

    overheads: tuple[int, ...] = ()
    """Per device when some are workers' (no CUDA context here); empty: CUDA's for all."""
    workers: tuple[str, ...] = ()
    """The ``--rpc`` addresses, checked and probed."""

    def targets(self) -> list[GpuTarget]:
        overheads = self.overheads or (CUDA_OVERHEAD,) * len(self.free)
        return [
            GpuTarget(n, weight=float(f), overhead=o)
            for n, f, o in zip(self.names, self.free, overheads, strict=True)
        ]


def rpc_endpoints(args: argparse.Namespace) -> tuple[str, ...]:
    """``--rpc``'s addresses as host:port; `WorkerError` (a ValueError) for one that is not."""
    text = getattr(args, "rpc", None)
    if not text:
        return ()
    out = []
    for part in text.split(","):
        host, port = parse_endpoint(part)
        out.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return tuple(dict.fromkeys(out))


def _with_workers(gpus: Gpus, endpoints: tuple[str, ...]) -> Gpus:
    """The local GPUs, then every device of every worker (probed: free memory, names)."""
    if not endpoints:
        return gpus
    remote = remote_devices(endpoints)
    return Gpus(
        gpus.names + tuple(d.name for d in remote),
        gpus.free + tuple(d.device.free_bytes for d in remote),
        cards=(),  # the speed model knows no worker's speed (nor the link's)
        overheads=(CUDA_OVERHEAD,) * len(gpus.free) + (0,) * len(remote),
        workers=endpoints,
    )


def _gpus(args: argparse.Namespace) -> Gpus:
    cards = _cards(args)
    if args.vram:
        names = tuple(f"GPU {i} ({format_size(size)})" for i, size in enumerate(args.vram))
        specs = cards if len(cards) == len(args.vram) else ()
        gpus = Gpus(names, tuple(args.vram), cards=specs)
    elif cards:
        names = tuple(c.name if len(cards) == 1 else f"GPU {i} ({c.name})" for i, c in
                      enumerate(cards))  # fmt: skip
        gpus = Gpus(names, tuple(c.usable_bytes for c in cards), cards=cards)
    else:
        from ..core.gpus import probe_gpus

        probe = probe_gpus()
        gpus = Gpus(
            tuple(g.name for g in probe.gpus),
            tuple(g.usable_bytes for g in probe.gpus),
            "" if probe.gpus else f"no GPU given with --vram, and NVML found none ({probe.reason})",
            cards=tuple(probe.gpus),
        )
    gpus = _with_workers(gpus, rpc_endpoints(args))
    split = args.tensor_split
    if split is not None and len(split) != len(gpus.free):
        raise ValueError(
            f"--tensor-split names {len(split)} GPUs, but there "
            + {0: "is none", 1: "is 1"}.get(len(gpus.free), f"are {len(gpus.free)}")
            + (" (one --vram size per GPU)" if args.vram else " on this machine")
            + (" and the workers" if gpus.workers else "")
        )
    if getattr(args, "main_gpu", None):
        try:
            check_main_gpu(args.main_gpu, len(gpus.free))
        except ValueError as exc:
            raise ValueError(f"--main-gpu {args.main_gpu}: {exc}") from None
    return gpus


def _settings(args: argparse.Namespace, model: ModelInfo, n_gpu_layers: int) -> LoadSettings:
    """The app's rule for a model nobody chose settings for, with the options given over it."""
    base = default_load_settings(_app_settings().load, n_ctx_train=model.n_ctx_train)
    changes: dict[str, Any] = {"n_gpu_layers": n_gpu_layers}
    if args.ctx is not None:
        changes["n_ctx"] = args.ctx
    if args.batch is not None:
        changes["n_batch"] = args.batch
    batch = changes.get("n_batch", base.n_batch)
    changes["n_ubatch"] = min(args.ubatch if args.ubatch is not None else base.n_ubatch, batch)
    if args.kv_type is not None:
        changes["type_k"] = changes["type_v"] = args.kv_type
        if KV_CACHE_TYPES[args.kv_type].quantized and base.flash_attn is False:
            changes["flash_attn"] = None
    if args.flash_attn:
        changes["flash_attn"] = True
    if args.no_mmap:
        changes["use_mmap"] = False
    if getattr(args, "threads", None) is not None:
        changes["n_threads"] = args.threads
    if args.n_cpu_moe is not None:
        changes["n_cpu_moe"] = args.n_cpu_moe
    if args.tensor_split is not None:
        changes["tensor_split"] = args.tensor_split
    if getattr(args, "split_mode", None) is not None:
        changes["split_mode"] = args.split_mode
    if getattr(args, "main_gpu", None) is not None:
        changes["main_gpu"] = args.main_gpu
    changes["rpc"] = rpc_endpoints(args)
    if getattr(args, "mmproj", None):
        changes["mmproj"] = str(args.mmproj)
    return base.with_changes(**changes)


def _projector(args: argparse.Namespace) -> ProjectorInfo | None:
    """``--mmproj``'s header (None without it); ValueError in words for a file that is not
    a projector."""
    if not getattr(args, "mmproj", None):
        return None
    try:
        return read_projector(args.mmproj)
    except (ProjectorError, OSError) as exc:
        raise ValueError(f"--mmproj {args.mmproj}: {exc}") from None


def _app_settings() -> Settings:
    return load_settings()


def _margin(args: argparse.Namespace) -> int:
    return int(args.margin if args.margin is not None else _app_settings().gpu_safety_margin_bytes)


def inspect(args: argparse.Namespace) -> dict[str, Any] | str:
    model = read_model(args.model)
    facts = {
        "name": model.name,
        "architecture": model.architecture,
        "parameters": model.parameter_count,
        "quantization": model.quantization,
        "file_size": model.file_size,
        "complete": model.is_complete,
        "n_layer": model.n_layer,
        "n_embd": model.n_embd,
        "n_head": max(model.n_head, default=0),
        "n_head_kv": max(model.n_head_kv, default=0),
        "head_dim_k": model.head_dim_k,
        "head_dim_v": model.head_dim_v,
        "n_ctx_train": model.n_ctx_train,
        "sliding_window": model.n_swa,
        "n_vocab": model.n_vocab,
        "chat_template": model.has_chat_template,
        "tied_embeddings": model.tied_embeddings,
        "experts": model.n_expert,
        "input_bytes": model.input_bytes,
        "output_bytes": model.output_bytes,
        "layer_bytes": list(model.layer_bytes),
    }
    if args.json:
        return facts
    lines = [
        f"{key:16} {_human(key, value)}" for key, value in facts.items() if key != "layer_bytes"
    ]
    rows = [[str(i), format_size(b)] for i, b in enumerate(model.layer_bytes)]
    return "\n".join(lines) + "\n\n" + table(["Layer", "Size"], rows)


def _human(key: str, value: Any) -> str:
    if key in ("file_size", "input_bytes", "output_bytes"):
        return format_size(value)
    if key == "parameters":
        return f"{value / 1e9:.2f} B" if value >= 1e9 else f"{value / 1e6:.0f} M"
    return str(value)


def _cards(args: argparse.Namespace) -> tuple[GpuInfo, ...]:
    """``--card``: one what-if card, or a what-if pair (the GPU picker's, `WHAT_IF_PAIRS`)
    by its name; "2 x" may stand for "2 ×"."""
    if not getattr(args, "card", None):
        return ()
    key = args.card.strip()
    card = find_what_if(key)
    if card is not None:
        return (card,)
    group = find_what_if_group(key) or find_what_if_group(
        re.sub(r"^(\d+)\s*[xX]\s+", r"\1 × ", key)
    )
    if group is not None:
        return group.cards
    names = ", ".join(c.name for c in WHAT_IF_CARDS)
    pairs = ", ".join(g.name for g in WHAT_IF_PAIRS)
    raise ValueError(
        f"no what-if card or pair called {args.card!r} (pairs: {pairs}; cards: {names})"
    )


def estimate_cmd(args: argparse.Namespace) -> dict[str, Any] | str:
    model = read_model(args.model)
    settings = _settings(args, model, -1 if args.gpu_layers is None else args.gpu_layers)
    gpus = _gpus(args)
    plan = with_projector(estimate(model, settings, gpus.targets()), _projector(args))
    verdict = judge(plan, gpu_free=gpus.free or None, margin=_margin(args))
    predicted = _predicted(model, plan, gpus.cards)
    if args.json:
        return {
            **_header(model, plan),
            "settings": _settings_dict(settings),
            **_cpu_only(gpus),
            "devices": [d.as_dict() for d in plan.devices],
            "verdict": verdict.as_dict(),
            "predicted": predicted.as_dict(),
        }
    title = f"{model.name} · {model.quantization} · ctx {settings.n_ctx} · {settings.type_k} KV"
    return (
        f"{title}\n{_no_gpu_line(gpus, args.gpu_layers)}\n{plan_table(plan)}\n\n"
        f"{verdict.headline}: {verdict.detail}\n{speed_line(predicted)}"
    )


def _predicted(model: ModelInfo, plan: MemoryPlan, cards: tuple[GpuInfo, ...]) -> Prediction:
    """The speed model for the plan; without the cards' specs (sizes from --vram alone) the
    GPU's speed is unknown (None) unless nothing is on it."""
    threads = threads_for(plan.settings.n_threads)
    work = model_work(model)
    cpu = cpu_speed(work.main_type, threads, work.head_dim)
    if not cards and plan.n_gpu_layers == 0:
        plan = estimate(model, plan.settings)  # nothing on a GPU: a CPU-only plan
    return predict(model, plan, cpu, list(cards))


def bench_cmd(args: argparse.Namespace) -> list[dict[str, Any]] | str:
    from ..core.engine.errors import EngineError
    from ..core.speed.bench import BenchCancelled, run_bench
    from ..core.speed.results import SpeedResults, hardware_key

    model = read_model(args.model)
    layers = _layer_list(args.gpu_layers, model.n_layer)
    base = default_load_settings(_app_settings().load, n_ctx_train=model.n_ctx_train)
    settings = base.with_changes(n_ctx=args.ctx, n_threads=args.threads)
    results = SpeedResults()
    path = Path(args.model)
    hardware = hardware_key()
    out = []

    def progress(done: int, total: int, text: str) -> None:
        print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)

    try:
        for result in run_bench(
            path, settings, layers, repetitions=args.repetitions, progress=progress
        ):
            results.add(path, hardware, result)
            out.append(result)
    except EngineError as exc:
        raise ValueError(str(exc)) from exc
    except (KeyboardInterrupt, BenchCancelled):
        print("lmdesk: the benchmark was cancelled; finished settings are kept", file=sys.stderr)
    finally:
        results.close()
    if args.json:
        return [r.as_dict() for r in out]
    rows = [
        [str(r.gpu_layers), str(r.threads), str(r.ctx), *_rates(r.prompt_tps, r.generation_tps)]
        for r in out
    ]
    return table(["GPU layers", "Threads", "Context", "Prompt tok/s", "Generation tok/s"], rows)


def _rates(*values: float) -> list[str]:
    return [f"{v:.1f}" for v in values]


def _layer_list(text: str, n_layer: int) -> list[int]:
    """``--gpu-layers``: ``sweep``, or comma-separated counts within 0..n_layer+1."""
    from ..core.speed.bench import sweep_layers

    if text.strip() == "sweep":
        return sweep_layers(n_layer)
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"--gpu-layers takes numbers like 0,8,16 or 'sweep', not {text!r}"
        ) from None
    bad = [v for v in values if not 0 <= v <= n_layer + 1]
    if not values or bad:
        raise ValueError(
            f"--gpu-layers must be between 0 and {n_layer + 1} for this model, not {text!r}"
        )
    return values


def fit_cmd(args: argparse.Namespace) -> dict[str, Any] | str:
    model = read_model(args.model)
    settings = _settings(args, model, 0)
    gpus = _gpus(args)
    projector = _projector(args)
    if not gpus.free:
        plan = with_projector(estimate(model, settings), projector)
        if args.json:
            return {**_header(model, plan), "settings": _settings_dict(settings),
                    **_cpu_only(gpus), "max_full_offload_ctx": 0,
                    "devices": [d.as_dict() for d in plan.devices]}  # fmt: skip
        return f"Runs on the CPU: {gpus.none_reason}.\n\n{plan_table(plan)}"
    room = list(gpus.free)
    room[0] -= gpu_bytes(projector)  # libmtmd puts the projector on the first GPU
    result = fit(
        model,
        settings,
        gpu_free=room,
        margin=_margin(args),
        gpu_name=gpus.names,
        overhead=gpus.overheads or CUDA_OVERHEAD,
        move_experts=args.n_cpu_moe is None,
    )
    plan = with_projector(result.plan, projector)
    if args.json:
        return {
            **_header(model, plan),
            "settings": _settings_dict(plan.settings),
            "max_full_offload_ctx": result.max_full_offload_ctx,
            "devices": [d.as_dict() for d in plan.devices],
        }
    gpu_layers = "; ".join(f"{d.name}: {layer_span(d.layers, model.n_layer)}" for d in plan.gpus)
    longest = (
        f"full offload up to a context of {result.max_full_offload_ctx:,}"
        if result.max_full_offload_ctx
        else "no context allows full offload"
    )
    where = " + ".join(format_size(f) for f in gpus.free)
    if plan.refused:
        return f"Will not load: {plan.refused}.\n\n{plan_table(plan)}"
    return (
        f"{result.choice()} fit in {where}"
        f" with a {format_size(_margin(args))} margin (GPU layers: {gpu_layers}); {longest}."
        f"\n\n{plan_table(plan)}"
    )


def _cpu_only(gpus: Gpus) -> dict[str, Any]:
    return {"cpu_only": gpus.none_reason} if not gpus.free else {}


def _no_gpu_line(gpus: Gpus, gpu_layers: int | None) -> str:
    if gpus.free:
        return ""
    ignored = f" (--gpu-layers {gpu_layers} has no GPU to go to)" if gpu_layers else ""
    return f"Planned for the CPU alone: {gpus.none_reason}{ignored}.\n"


def _settings_dict(settings: LoadSettings) -> dict[str, Any]:
    """The load settings the plan is for (the app's defaults where no option was given)."""
    return {
        "n_ctx": settings.n_ctx,
        "n_batch": settings.n_batch,
        "n_ubatch": settings.n_ubatch,
        "type_k": settings.type_k,
        "type_v": settings.type_v,
        "flash_attn": "auto" if settings.flash_attn is None else settings.flash_attn,
        "n_cpu_moe": settings.n_cpu_moe,
        "tensor_split": list(settings.tensor_split) if settings.tensor_split else None,
        "rpc": list(settings.rpc),
        "split_mode": settings.split_mode,
        "main_gpu": settings.main_gpu,
    }


def _header(model: ModelInfo, plan: MemoryPlan) -> dict[str, Any]:
    return {
        "model": model.name,
        "n_layer": model.n_layer,
        "n_gpu_layers": plan.n_gpu_layers,
        "n_expert": model.n_expert,
        "experts_on_cpu": plan.experts_on_cpu,  # GPU layers whose experts stay in RAM
        "expert_bytes_on_cpu": plan.expert_bytes_on_cpu,
        "approximate": plan.approximate or None,
        "refused": plan.refused or None,  # why llama.cpp would not load it (split by row)
    }


def starter(args: argparse.Namespace) -> str:
    from ..core.paths import models_dir
    from ..core.starter import ensure_starter_model

    live = sys.stderr.isatty()
    stages: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if args.quiet:
            return
        if live:  # one line, redrawn
            line = f"\r{stage:9} {done / max(total, 1):6.1%}  {format_size(done)}"
            print(line, end="", file=sys.stderr, flush=True)
        elif stage not in stages:  # a log or a pipe: one line per stage
            stages.append(stage)
            print(f"starter model: {stage} ({format_size(total)})", file=sys.stderr, flush=True)

    path = ensure_starter_model(models_dir(args.models_dir), progress=progress)
    if live and not args.quiet:
        print(file=sys.stderr)
    return str(path)


COMMANDS = {
    "inspect": inspect,
    "estimate": estimate_cmd,
    "fit": fit_cmd,
    "bench": bench_cmd,
    "starter": starter,
}
