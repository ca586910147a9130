"""How long from launching lmdesk to its first painted window; the bar is 1.5 s.

Each run starts `python -m lmdesk` with a fresh profile (LMDESK_HOME) and
LMDESK_STARTUP_MARKER set: the app writes the wall-clock time of the main
window's first paint there and closes. The time counted is from just
before the process is launched to that paint: interpreter start, imports,
settings, window construction and the first paint.

    python bench/startup.py [--runs 7] [--bar 1.5] [--json]

Without a display it renders offscreen (QT_QPA_PLATFORM=offscreen).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BAR_S = 1.5


def one_run(*, timeout_s: float = 60.0) -> float:
    """Seconds from process launch to the first paint of the main window."""
    with tempfile.TemporaryDirectory(prefix="lmdesk-startup-") as home:
        marker = Path(home) / "first-paint"
        env = {**os.environ, "LMDESK_HOME": home, "LMDESK_STARTUP_MARKER": str(marker)}
        if not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
        start = time.time()
        done = subprocess.run(
            [sys.executable, "-m", "lmdesk"],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if done.returncode != 0 or not marker.exists():
            raise RuntimeError(f"lmdesk exited with {done.returncode}: {done.stderr[-2000:]}")
        return float(marker.read_text(encoding="utf-8")) - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bar", type=float, default=BAR_S, help="seconds (default 1.5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warmup = one_run()  # fills the OS file cache; reported, not counted
    times = [one_run() for _ in range(args.runs)]
    median = statistics.median(times)
    result = {
        "warmup_s": round(warmup, 3),
        "runs_s": [round(t, 3) for t in times],
        "median_s": round(median, 3),
        "min_s": round(min(times), 3),
        "max_s": round(max(times), 3),
        "bar_s": args.bar,
        "ratio_to_bar": round(median / args.bar, 3),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print("runs:   " + "  ".join(f"{t:.3f}" for t in times) + f"  (warm-up {warmup:.3f})")
        print(f"median: {median:.3f} s  (min {min(times):.3f}, max {max(times):.3f})")
        print(f"bar:    {args.bar:.2f} s  ->  {median / args.bar:.0%} of the bar")
    return 0 if median <= args.bar else 1


if __name__ == "__main__":
    sys.exit(main())
