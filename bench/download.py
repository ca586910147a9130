"""lmdesk's downloader against hf_hub_download, on the local test hub (127.0.0.1 only).

    .venv/bin/python bench/download.py [--size-mb 200] [--rounds 3]

Serves one file of random bytes, downloads it with each client in alternating rounds and
prints the throughput of each and their ratio (bar: lmdesk >= 90% of hf_hub_download,
although lmdesk also hashes, fsyncs and verifies the sha256). Then cuts a download
halfway and prints how many bytes were fetched twice when it resumed (bar: at most one
write chunk). Exits 1 if a bar is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # before huggingface_hub is imported

from hub_server import Fault, HubServer  # noqa: E402
from huggingface_hub import hf_hub_download  # noqa: E402

from lmdesk.core.downloads import DownloadManager, JobState  # noqa: E402
from lmdesk.core.downloads.transfer import WRITE_CHUNK  # noqa: E402
from lmdesk.core.units import MiB, format_size  # noqa: E402

REPO, FILE = "bench/Random-GGUF", "random-Q8_0.gguf"


def make_file(folder: Path, size: int) -> tuple[Path, str]:
    path, digest = folder / FILE, hashlib.sha256()
    with path.open("wb") as f:
        for offset in range(0, size, 8 * MiB):
            block = os.urandom(min(8 * MiB, size - offset))
            digest.update(block)
            f.write(block)
    return path, digest.hexdigest()


def with_lmdesk(endpoint: str, work: Path) -> float:
    models = work / "models"
    start = time.perf_counter()
    with DownloadManager(models, endpoint=endpoint) as manager:
        done = manager.wait(manager.add(REPO, FILE).job_id, timeout=600)
    elapsed = time.perf_counter() - start
    if done.state is not JobState.DONE:
        raise SystemExit(f"lmdesk download failed: {done.message}")
    shutil.rmtree(models)
    return elapsed


def with_hf_hub_download(endpoint: str, work: Path) -> float:
    cache = work / "hf_cache"
    start = time.perf_counter()
    hf_hub_download(REPO, FILE, endpoint=endpoint, cache_dir=cache)
    elapsed = time.perf_counter() - start
    shutil.rmtree(cache)
    return elapsed


def resume_after_cut(hub: HubServer, work: Path, size: int, sha256: str) -> int:
    hub.reset_counters()
    hub.set_fault(Fault(cut_after=size // 2 + 12345, times=1), repo_id=REPO, filename=FILE)
    models = work / "models"
    with DownloadManager(models, endpoint=hub.endpoint) as manager:
        done = manager.wait(manager.add(REPO, FILE).job_id, timeout=600)
    hub.clear_faults()
    if done.state is not JobState.DONE:
        raise SystemExit(f"resumed download failed: {done.message}")
    ranges = [r.headers.get("range") for r in hub.requests_for("/resolve/", "GET")]
    print(f"resume after a cut at byte {size // 2 + 12345:,}: requests {ranges}")
    assert hashlib.sha256(done.path.read_bytes()).hexdigest() == sha256
    shutil.rmtree(models)
    return hub.bytes_served(REPO, FILE) - size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mb * 1000 * 1000
    with tempfile.TemporaryDirectory(prefix="lmdesk-bench-") as tmp:
        work = Path(tmp)
        os.environ["HF_HOME"] = str(work / "hf_home")
        path, sha256 = make_file(work, size)
        with HubServer() as hub:
            hub.add_repo(REPO, {FILE: path}, tags=["gguf"])
            hub.repos[REPO].files[FILE]._sha256 = sha256
            ours: list[float] = []
            theirs: list[float] = []
            for round_ in range(1, args.rounds + 1):
                pair = [
                    ("lmdesk", with_lmdesk, ours),
                    ("hf_hub_download", with_hf_hub_download, theirs),
                ]
                for name, run, times in pair if round_ % 2 else pair[::-1]:
                    times.append(run(hub.endpoint, work))
                    os.sync()  # neither run pays for the other's writeback
                    print(f"round {round_}: {name:16s} {size / times[-1] / 1e6:8.1f} MB/s")
            ours_mbs = size / statistics.median(ours) / 1e6
            theirs_mbs = size / statistics.median(theirs) / 1e6
            ratio = ours_mbs / theirs_mbs
            print(
                f"median: lmdesk {ours_mbs:.1f} MB/s, hf_hub_download {theirs_mbs:.1f} MB/s, "
                f"ratio {ratio:.2f} (bar >= 0.90)"
            )
            twice = resume_after_cut(hub, work, size, sha256)
            print(
                f"bytes fetched twice: {twice:,} ({format_size(twice)}; "
                f"bar <= one chunk, {format_size(WRITE_CHUNK)})"
            )
    ok = ratio >= 0.90 and twice <= WRITE_CHUNK
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
