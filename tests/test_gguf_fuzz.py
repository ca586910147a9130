"""Fuzz: hostile GGUF headers of every kind issue 16 found, written by hypothesis.

For each generated file: reading it ends in a model or a GGUFError (no other exception),
within 2 s and 200 MB; `lmdesk inspect` answers status 0, or 2 with one line on stderr;
and a library scan of a folder holding it still lists the sound model beside it.
"""

from __future__ import annotations

import contextlib
import io
import struct
import time
import tracemalloc
from pathlib import Path

from gguf_bytes import (
    gguf_string,
    kv_array_claim,
    kv_nested,
    kv_str,
    kv_typed,
    llama_model,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmdesk.cli import main as cli_main
from lmdesk.core.gguf import GGUFError, read_model
from lmdesk.core.library import DescribeCache, scan_library

MAX_SECONDS = 2.0
MAX_BYTES = 200 * 1024 * 1024

NUMBER_KEYS = [
    "llama.block_count",
    "llama.embedding_length",
    "llama.attention.head_count",
    "llama.attention.head_count_kv",
    "llama.attention.key_length",
    "llama.attention.value_length",
    "llama.context_length",
    "llama.attention.sliding_window",
    "llama.attention.sliding_window_pattern",
    "llama.expert_count",
    "llama.expert_used_count",
    "llama.attention.layer_norm_rms_epsilon",
    "llama.vocab_size",
    "general.alignment",
    "general.file_type",
    "general.architecture",
    "general.name",
    "tokenizer.chat_template",
    "tokenizer.ggml.tokens",
]
INTS = st.sampled_from(
    [0, 1, 2, 511, 512, 513, 1000, 10**6, 10**8, 2**31 - 1, 2**32 - 1, 2**63, 2**64 - 1]
)
SIGNED = st.sampled_from([-1, -(2**31), -(2**63), 0, 5, 2**31 - 1])
FLOATS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e38, -1.0, 0.0, 1e-5])


@st.composite
def hostile_entry(draw: st.DrawFn, key: str) -> bytes:
    """One metadata entry for ``key`` whose type or value is hostile."""
    kind = draw(
        st.sampled_from(["u32", "u64", "i32", "i64", "f32", "f64", "bool", "str", "list", "nest"])
    )
    if kind in ("u32", "u64"):
        value = draw(INTS)
        return kv_typed(key, kind, value if kind == "u64" else value % 2**32)
    if kind in ("i32", "i64"):
        value = draw(SIGNED)
        return kv_typed(key, kind, max(value, -(2**31)) if kind == "i32" else value)
    if kind in ("f32", "f64"):
        return kv_typed(key, kind, draw(FLOATS))
    if kind == "bool":
        return kv_typed(key, "bool", draw(st.booleans()))
    if kind == "str":
        return kv_str(key, draw(st.sampled_from(["abc", "", "1e9", "x" * 5000, "\n\x00"])))
    if kind == "nest":
        return kv_nested(key, draw(st.sampled_from([2, 9, 1000, 20000])))
    # an array: of strings or u32s, of a length that may not match, or that claims more than it has
    count = draw(st.sampled_from([0, 1, 3, 2**20, 2**40, 2**64 - 1]))
    item = draw(st.sampled_from([4, 8, 6]))
    payload = struct.pack("<3I", 1, 2, 3) if item != 8 else gguf_string("a") * 3
    return kv_array_claim(key, item, count, payload)


@st.composite
def hostile_file(draw: st.DrawFn) -> bytes:
    keys = draw(st.lists(st.sampled_from(NUMBER_KEYS), min_size=1, max_size=3, unique=True))
    data = llama_model({key: draw(hostile_entry(key)) for key in keys})
    cut = draw(st.sampled_from([None, None, None, 8, 24, len(data) // 2, len(data) - 1]))
    return data if cut is None else data[:cut]


def _read_measured(path: Path) -> tuple[object, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            outcome: object = read_model(path)
        except GGUFError as exc:
            outcome = exc
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, elapsed, peak


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=hostile_file())
def test_hostile_headers_fail_alone_fast_and_in_one_line(tmp_path: Path, data: bytes) -> None:
    folder = tmp_path / f"case-{time.monotonic_ns()}"
    folder.mkdir()
    good = folder / "good.gguf"
    good.write_bytes(llama_model())
    bad = folder / "bad.gguf"
    bad.write_bytes(data)

    outcome, elapsed, peak = _read_measured(bad)
    assert elapsed < MAX_SECONDS and peak < MAX_BYTES, (elapsed, peak)

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(["inspect", str(bad)])
    if isinstance(outcome, GGUFError):
        assert status == 2 and err.getvalue().count("\n") == 1
        assert err.getvalue().startswith("lmdesk: ") and len(err.getvalue()) <= 520
    else:
        assert status == 0 and err.getvalue() == ""

    entries = scan_library(
        models_dir=folder,
        cache=DescribeCache(tmp_path / "cache"),
        lm_studio=[],
        include_hf_cache=False,
    )
    rows = {e.path.name: e for e in entries}
    assert rows["good.gguf"].is_ok
    assert (rows["bad.gguf"].model is None) == isinstance(outcome, GGUFError)
