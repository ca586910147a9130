"""Argument parsing and dispatch; bad files and arguments end in one line and status 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from ..core.load_settings import KV_CACHE_TYPES, SPLIT_MODES
from ..core.units import parse_size
from .arg_types import count, positive

# The estimator and the GGUF reader (numpy, gguf) are imported only by the commands
# that need them: `lmdesk` with no arguments opens the window first.

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise SystemExit(_fail(f"{self.prog}: {message}"))


MAX_MESSAGE = 500  # characters: a hostile file name or value must not make a 3 MB line


def _fail(message: str) -> int:
    line = " ".join(message.split())
    if len(line) > MAX_MESSAGE:
        line = line[: MAX_MESSAGE - 3] + "..."
    print(f"lmdesk: {line}", file=sys.stderr)
    return EXIT_USAGE


def _print(text: str) -> int:
    """Print the result; a reader that stops early (``| head``) is not an error to report."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Python would report the pipe again when it flushes stdout at exit: point it at devnull.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return 0


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _sizes(text: str) -> list[int]:
    """``12GiB,8GiB``: one free-memory size per GPU, in order."""
    sizes = [_size(part.strip()) for part in text.split(",")]
    if any(size <= 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"each GPU needs some memory: {text!r}")
    return sizes


def _shares(text: str) -> tuple[float, ...]:
    """``2,1``: llama.cpp's tensor split, one share of the layers per GPU."""
    try:
        shares = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if any(not 0 <= share < float("inf") for share in shares) or not any(shares):
        raise argparse.ArgumentTypeError(f"shares must be 0 or more, not all 0: {text!r}")
    return shares


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lmdesk", description=__doc__)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check this install: render the window, load the starter model, generate a few tokens",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    inspect = sub.add_parser("inspect", help="metadata, layers, sizes per layer, quantization")
    inspect.add_argument("model")
    inspect.add_argument("--json", action="store_true", help="print one JSON object")

    for name, help_text in (
        ("estimate", "memory per device for given load settings, and a verdict"),
        ("fit", "the most GPU layers that fit a GPU, and the longest full-offload context"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("model")
        if name == "estimate":
            cmd.add_argument(
                "--gpu-layers",
                type=int,
                metavar="N",
                help="layers on the GPUs, 0..n_layer+1 (default: all)",
            )
        cmd.add_argument(
            "--vram",
            type=_sizes,
            metavar="SIZE[,SIZE...]",
            help="free memory of each GPU, e.g. 8GiB or 12GiB,8GiB (default: the GPUs NVML "
            "finds; none: the CPU alone)",
        )
        cmd.add_argument(
            "--tensor-split",
            type=_shares,
            metavar="SHARE,SHARE...",
            help="share of the layers per GPU, e.g. 2,1 (default: by free memory)",
        )
        cmd.add_argument(
            "--split-mode",
            choices=list(SPLIT_MODES),
            help="how several GPUs share the layers, as llama.cpp's --split-mode: "
            + "; ".join(f"{k}: {v}" for k, v in SPLIT_MODES.items())
            + " (default: layer)",
        )
        cmd.add_argument(
            "--main-gpu",
            type=count,
            metavar="N",
            help="the GPU that holds the model with --split-mode none (default 0)",
        )
        cmd.add_argument(
            "--rpc",
            metavar="HOST:PORT[,HOST:PORT...]",
            help="lmdesk workers whose devices follow the GPUs in the plan (asked for their "
            "free memory; see docs/scale-out.md)",
        )
        cmd.add_argument(
            "--n-cpu-moe",
            type=count,
            metavar="N",
            help="keep the experts of the first N layers in system RAM (MoE models; "
            + ("default 0" if name == "estimate" else "default: as Auto chooses")
            + ")",
        )
        cmd.add_argument(
            "--mmproj",
            metavar="FILE",
            help="a vision projector loaded beside the model: its weights and image buffer "
            "count on the first GPU (on the CPU without one), as libmtmd places them",
        )
        cmd.add_argument(
            "--card",
            help="a what-if card or pair by name, e.g. 'GeForce RTX 4060 8 GB' or "
            "'2 x GeForce RTX 3060 12 GB' (their memory and speed; --vram overrides the "
            "memory)",
        )
        if name == "estimate":
            cmd.add_argument(
                "--threads",
                type=positive,
                metavar="N",
                help="CPU threads llama.cpp uses (default: the app's rule, core.cpu_threads)",
            )
        # Unset options take the app's own load defaults (Settings > Load), the context capped
        # at what the model was trained for: the rule of core.load_plan, as in the app.
        cmd.add_argument("--ctx", type=int, help="context length (default: the app's)")
        cmd.add_argument("--batch", type=int, help="batch size (default: the app's)")
        cmd.add_argument("--ubatch", type=int, help="micro-batch size (default: the app's)")
        cmd.add_argument(
            "--kv-type",
            choices=list(KV_CACHE_TYPES),
            help="K and V cache type (default: the app's)",
        )
        cmd.add_argument("--flash-attn", action="store_true", help="flash attention on")
        cmd.add_argument("--no-mmap", action="store_true")
        cmd.add_argument(
            "--margin", type=_size, help="GPU memory kept free (default: the app's safety margin)"
        )
        cmd.add_argument("--json", action="store_true", help="print one JSON object")

    from .serve import add_parser as add_serve

    add_serve(sub)
    from .worker import add_parser as add_worker

    add_worker(sub)

    bench = sub.add_parser(
        "bench", help="measure prompt and generation tokens/s (pp512 / tg128, medians)"
    )
    bench.add_argument("model")
    bench.add_argument(
        "--gpu-layers",
        default="0",
        metavar="0,8,16|sweep",
        help="GPU layer counts to measure, comma-separated, or 'sweep' (0 to all in 6 steps)",
    )
    bench.add_argument("--ctx", type=int, default=4096, help="context length (default 4096)")
    bench.add_argument("--threads", type=positive, metavar="N", help="CPU threads (default: Auto)")
    bench.add_argument(
        "--repetitions", type=positive, default=3, metavar="N", help="runs per setting (3)"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object per setting")

    starter = sub.add_parser("starter", help="put the starter model into the models folder")
    starter.add_argument("--models-dir", help="where to put it (default: lmdesk's folder)")
    starter.add_argument("--quiet", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command is None and args.self_test:
            from ..ui.self_test import run_self_test

            return run_self_test()
        if args.command is None:
            from ..ui.app import run_app

            return run_app()
        if args.command == "worker":
            from .worker import worker

            return worker(args, _fail)
        if args.command == "serve":
            from .serve import serve

            return serve(args, _fail)
        from . import commands

        result = commands.COMMANDS[args.command](args)
    except (ValueError, OSError) as exc:  # GGUFError and EstimateError are ValueErrors
        return _fail(str(exc))
    except (ArithmeticError, RecursionError, MemoryError) as exc:  # never a traceback
        return _fail(f"cannot read {getattr(args, 'model', 'the file')}: {exc!r}")
    if isinstance(result, list):  # one JSON object per line (bench --json)
        return _print("\n".join(json.dumps(item) for item in result))
    return _print(json.dumps(result, indent=2) if isinstance(result, dict) else result)
