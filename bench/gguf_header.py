"""lmdesk's GGUF header reader against gguf.GGUFReader on the same file, in one run.

    python bench/gguf_header.py [MODEL.gguf]    (default: the starter model)

Prints the median parse time and the bytes each one reads, and the ratio.
Ours reads only the header; GGUFReader memory-maps the whole file and builds
views of every metadata item and tensor.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gguf
import psutil

from lmdesk.core.gguf import read_header
from lmdesk.core.gguf.source import StreamSource

ROUNDS = 5


class CountingSource(StreamSource):
    """A file source that counts the bytes it hands out."""

    def __init__(self, stream):  # type: ignore[no-untyped-def]
        super().__init__(stream)
        self.bytes_read = 0

    def read_range(self, offset: int, size: int) -> bytes:
        data = super().read_range(offset, size)
        self.bytes_read += len(data)
        return data


def ours(path: Path) -> tuple[float, int]:
    with path.open("rb") as stream:
        source = CountingSource(stream)
        started = time.perf_counter()
        read_header(source)
        return time.perf_counter() - started, source.bytes_read


def theirs(path: Path) -> tuple[float, int]:
    process = psutil.Process()
    before = process.memory_full_info().uss
    started = time.perf_counter()
    reader = gguf.GGUFReader(path)
    elapsed = time.perf_counter() - started
    touched = process.memory_full_info().uss - before  # pages it faulted in and kept
    del reader
    return elapsed, max(touched, 0)


def main() -> int:
    from lmdesk.core.starter import given_or_starter_model

    path = given_or_starter_model(sys.argv[1] if len(sys.argv) > 1 else None)
    size = path.stat().st_size
    ours_t, theirs_t, ours_bytes, theirs_bytes = [], [], 0, 0
    for _ in range(ROUNDS):  # alternate, so both see the same cache state
        t, ours_bytes = ours(path)
        ours_t.append(t)
        t, theirs_bytes = theirs(path)
        theirs_t.append(t)
    a, b = statistics.median(ours_t), statistics.median(theirs_t)
    print(f"file: {path.name} ({size / 2**20:.1f} MiB), {ROUNDS} rounds each, alternating")
    print(f"lmdesk read_header : {a * 1000:8.1f} ms median, {ours_bytes / 2**20:6.2f} MiB read")
    print(
        f"gguf.GGUFReader    : {b * 1000:8.1f} ms median, maps {size / 2**20:.1f} MiB, "
        f"{theirs_bytes / 2**20:.2f} MiB of it resident afterwards"
    )
    print(f"ratio: lmdesk is {b / a:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
