"""``lmdesk serve``: the API server without a window (no Qt import). ``--rpc`` splits the
models over `lmdesk worker`s, each loaded in a child process (`core.engine.switch`).

Loads MODEL first when one is named (an id from My Models or a GGUF path), then serves
until Ctrl+C / SIGINT / SIGTERM (exit 0). Bad arguments, a model that cannot be loaded,
LAN without a key or a port in use end with one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core.engine import EngineError, SamplingSettings
from ..core.server import ApiServer, ServerConfig, ServerState, config_from_settings
from ..core.server.config import read_key_file
from ..core.serving.pool import ModelPool
from ..core.settings import Settings, load_settings
from .arg_types import positive

EXIT_USAGE = 2


def gpu_layers(text: str) -> int | None:
    """``auto`` (None: the load rule decides) or a layer count, -1 for all."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'auto', not {text!r}") from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"must be -1 (all), 0 or more, not {value}")
    return value


def port(text: str) -> int:
    value = positive(text) if text != "0" else 0
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 1 to 65535, not {value}")
    return value


def add_parser(sub: Any) -> None:
    cmd = sub.add_parser("serve", help="serve models over an OpenAI/Anthropic-compatible API")
    cmd.add_argument("model", nargs="?", help="model to load first: an id from My Models or a path")
    cmd.add_argument("--host", help="address to listen on (default 127.0.0.1; others need a key)")
    cmd.add_argument("--port", type=port, help="port (default: the settings', 1234)")
    cmd.add_argument("--api-key-file", help="file holding the API key clients must send")
    cmd.add_argument(
        "--gpu-layers", type=gpu_layers, default=None, metavar="N|auto", help="layers on the GPU"
    )
    cmd.add_argument("--ctx", type=positive, help="context length (default: the load rule's)")
    cmd.add_argument("--threads", type=positive, help="CPU threads for llama.cpp")
    cmd.add_argument(
        "--rpc",
        metavar="HOST:PORT[,HOST:PORT...]",
        help="lmdesk workers to split the models over, after the GPUs (with it, --gpu-layers "
        "defaults to all; see docs/scale-out.md)",
    )
    cmd.add_argument("--json", action="store_true", help="print the startup line as JSON")


def _config(args: argparse.Namespace, settings: Settings) -> ServerConfig:
    """The settings' server, with the command line's options over it."""
    server = settings.server
    key_file = args.api_key_file or server.api_key_file
    base = config_from_settings(replace(server, api_key_file=""))
    changes: dict[str, Any] = {"api_key": read_key_file(key_file) if key_file else None}
    if args.host is not None:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    return replace(base, **changes)


def _pool(args: argparse.Namespace, settings: Settings, config: ServerConfig) -> ModelPool:
    """The app's pool (`pool_for`: My Models, the one load rule, what fits together), with
    the command line's model, --gpu-layers, --ctx and --threads over it."""
    from ..core.gpus import llama_build_info, probe_gpus
    from ..core.serving.pool_for import pool_for
    from .commands import rpc_endpoints

    changes: dict[str, Any] = {}
    workers = rpc_endpoints(args)  # a WorkerError (ValueError) for an address that is not one
    if workers:  # each model then loads in a child process (core.engine.switch)
        changes["rpc"] = workers
        changes["n_gpu_layers"] = -1  # every layer over the GPUs and the workers' devices
    if args.gpu_layers is not None:
        changes["n_gpu_layers"] = args.gpu_layers
    if args.ctx is not None:
        changes["n_ctx"] = args.ctx
    if args.threads is not None:
        changes["n_threads"] = args.threads
    extra: dict[str, Path] = {}
    if args.model and Path(args.model).is_file():
        extra[_model_name(args.model)] = Path(args.model).resolve()
    return pool_for(
        lambda: settings,
        probe=probe_gpus(),
        build=llama_build_info(),
        extra=extra,
        adjust=lambda load: load.with_changes(**changes),
        default_ttl_s=config.ttl_s,
        max_queue=config.max_queue,
    )


def serve(args: argparse.Namespace, fail: Any) -> int:
    """Run the server in the foreground; ``fail(line)`` prints one line and returns 2."""
    settings = load_settings()
    try:
        config = _config(args, settings)
        config.check()
    except ValueError as exc:  # ServerConfigError, an unreadable key file
        return int(fail(str(exc)))
    try:
        pool = _pool(args, settings, config)
    except ValueError as exc:  # a --rpc address that is not one
        return int(fail(str(exc)))
    pool.start_reaper()  # idle models are unloaded after the TTL
    sampling = SamplingSettings.from_defaults(settings.sampling).with_changes(max_tokens=None)
    state = ServerState(pool, config, sampling=sampling)
    try:
        try:
            server = ApiServer(state)
        except OSError as exc:
            return int(fail(f"cannot listen on {config.host}:{config.port}: {exc.strerror}"))
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            model_id = None
            if args.model:
                try:
                    model_id, _ = pool.acquire(_model_name(args.model))
                except EngineError as exc:
                    return int(fail(str(exc)))
            _announce(args, server, model_id)
            server.serve_forever()
        return 0
    finally:
        pool.close()


def _model_name(model: str) -> str:
    """The id of MODEL: a file's name without .gguf, else the id as given."""
    return Path(model).name.removesuffix(".gguf") if Path(model).is_file() else model


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _announce(args: argparse.Namespace, server: ApiServer, model_id: str | None) -> None:
    facts = {
        "event": "listening",
        "base_url": server.base_url,
        "host": server.config.host,
        "port": server.port,
        "model": model_id,
        "api_key": bool(server.config.api_key),
        "pid": os.getpid(),
    }
    if args.json:
        line = json.dumps(facts)
    else:
        loaded = f", {model_id} loaded" if model_id else ""
        line = f"lmdesk serving on {server.base_url}{loaded}; Ctrl+C stops"
    print(line, flush=True)
    sys.stdout.flush()
