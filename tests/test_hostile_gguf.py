"""Hostile GGUF headers: every bad number, nesting, size and file kind ends in one clear reason.

Issue 16: a wrong-typed or impossible value must be a GGUFError naming its key (never an
OverflowError, a 6 GB allocation or an abort inside llama.cpp), a FIFO must not block, one
bad file must not hide the other models, and the CLI answers in one line with status 2.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from gguf_bytes import (
    gguf_string,
    kv_array,
    kv_array_claim,
    kv_nested,
    kv_str,
    kv_typed,
    kv_u32,
    llama_model,
)
from gguf_factory import write_model

from lmdesk.cli import main as cli_main
from lmdesk.core.gguf import GGUFError, describe, read_header, read_model
from lmdesk.core.library import DescribeCache, scan_library

NAN, INF = float("nan"), float("inf")
RMS = "llama.attention.layer_norm_rms_epsilon"


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("key", "entry", "says"),
    [
        # llama.cpp aborts (GGML_ASSERT, SIGABRT) on these three: they must never reach it.
        ("llama.block_count", kv_u32("llama.block_count", 0), "from 1 to 512"),
        ("llama.block_count", kv_u32("llama.block_count", 1000), "1,000; it must be from 1 to 512"),
        (RMS, kv_typed(RMS, "f32", NAN), "nan"),
        (RMS, kv_typed(RMS, "f64", INF), "inf"),
        # 1e8 layers: 74 s and 5.8 GB before a MemoryError on the old reader.
        ("llama.block_count", kv_typed("llama.block_count", "u64", 10**8), "100,000,000"),
        ("llama.block_count", kv_typed("llama.block_count", "f32", 2.0), "whole number, not 2.0"),
        ("llama.context_length", kv_str("llama.context_length", "abc"), "not 'abc'"),
        ("llama.context_length", kv_typed("llama.context_length", "f64", INF), "not inf"),
        ("llama.attention.head_count", kv_typed("llama.attention.head_count", "i32", -1), "-1"),
        (
            "llama.attention.head_count_kv",
            kv_array("llama.attention.head_count_kv", "str", ["a"]),
            "whole number, not 'a'",
        ),
        (
            "llama.attention.key_length",
            kv_typed("llama.attention.key_length", "u64", 2**63),
            "must be from 0 to 65,536",
        ),
        (
            "llama.attention.sliding_window",
            kv_typed("llama.attention.sliding_window", "f32", NAN),
            "whole number, not nan",
        ),
        ("llama.expert_count", kv_typed("llama.expert_count", "u32", 5000), "0 to 1,024"),
        ("llama.expert_count", kv_typed("llama.expert_count", "bool", True), "not True"),
        ("llama.embedding_length", kv_typed("llama.embedding_length", "u32", 0), "from 1 to"),
        ("llama.vocab_size", kv_typed("llama.vocab_size", "i64", -5), "-5"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_bad_number_is_a_gguf_error_naming_its_key(
    tmp_path: Path, key: str, entry: bytes, says: str
) -> None:
    path = _write(tmp_path / "bad.gguf", llama_model({key: entry}))
    with pytest.raises(GGUFError) as caught:
        read_model(path)
    assert key in str(caught.value) and says in str(caught.value)


def test_the_sound_header_these_are_made_from_is_a_model(tmp_path: Path) -> None:
    model = read_model(_write(tmp_path / "ok.gguf", llama_model({RMS: kv_typed(RMS, "f32", 1e-5)})))
    assert (model.n_layer, model.n_embd, model.n_head) == (1, 32, (4,))


def test_odd_types_in_descriptive_keys_fall_back_instead_of_failing(tmp_path: Path) -> None:
    data = llama_model(
        {
            "general.name": kv_typed("general.name", "u32", 7),
            "general.size_label": kv_array("general.size_label", "i32", [1, 2]),
            "tokenizer.chat_template": kv_typed("tokenizer.chat_template", "f32", 1.0),
        }
    )
    model = read_model(_write(tmp_path / "odd-names.gguf", data))
    assert model.name == "odd-names" and model.size_label is None
    assert model.chat_template is None


def test_a_huge_architecture_name_is_refused_in_a_short_message(tmp_path: Path) -> None:
    arch = "x" * 100_000
    data = llama_model({"general.architecture": kv_str("general.architecture", arch)})
    with pytest.raises(GGUFError) as caught:
        read_model(_write(tmp_path / "arch.gguf", data))
    assert len(str(caught.value)) < 200


def test_arrays_nested_a_thousand_deep_are_read_without_recursion(tmp_path: Path) -> None:
    data = llama_model({"deep": kv_nested("deep", 1000)})
    with pytest.raises(GGUFError, match="'deep' nests arrays more than 8 deep"):
        read_header(_write(tmp_path / "deep.gguf", data))
    shallow = read_header(_write(tmp_path / "ok.gguf", llama_model({"n": kv_nested("n", 3, 5)})))
    assert shallow.metadata["n"] == [[[5]]]


def test_nested_arrays_keep_their_order_and_lengths(tmp_path: Path) -> None:
    # [[1, 2], [], [[3]]]: arrays of different types side by side.
    inner = struct.pack("<IQII", 4, 2, 1, 2) + struct.pack("<IQ", 4, 0)
    inner += struct.pack("<IQ", 9, 1) + struct.pack("<IQI", 4, 1, 3)
    entry = kv_array_claim("mixed", 9, 3, inner)
    header = read_header(_write(tmp_path / "mixed.gguf", llama_model({"mixed": entry})))
    assert header.metadata["mixed"] == [[1, 2], [], [[3]]]


def test_a_header_may_not_make_the_reader_allocate_without_bound(tmp_path: Path) -> None:
    # 5 million one-byte items: the file holds them, but no real header comes close
    # (the largest vocabularies have about a million items in all).
    many = kv_array_claim("many", 0, 5_000_000, bytes(5_000_000))
    with pytest.raises(GGUFError, match="'many' claims an array of 5,000,000 items"):
        read_header(_write(tmp_path / "many.gguf", llama_model({"many": many})))
    # Two arrays that are each allowed but together are not.
    half = 3_000_000
    pair = {
        "a": kv_array_claim("a", 0, half, bytes(half)),
        "b": kv_array_claim("b", 0, half, bytes(half)),
    }
    with pytest.raises(GGUFError, match="'b' claims an array of 3,000,000 items"):
        read_header(_write(tmp_path / "pair.gguf", llama_model(pair)))


def test_a_string_longer_than_the_header_budget_is_refused(tmp_path: Path) -> None:
    claim = b"\x05\x00\x00\x00\x00\x00\x00\x10"  # 2**60 + 5 bytes of text
    entry = kv_str("k", "")[:-8] + claim
    with pytest.raises(GGUFError, match="claims"):
        read_header(_write(tmp_path / "long.gguf", llama_model({"k": entry})))


def _with_timeout(fn, seconds: float):  # type: ignore[no-untyped-def]
    """Run ``fn`` on a thread; fail (instead of hanging the suite) if it blocks."""
    result: list[object] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked"
    return result[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_fifo_named_gguf_neither_blocks_the_reader_nor_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    good = _write(models / "good.gguf", llama_model())
    fifo = models / "pipe.gguf"
    os.mkfifo(fifo)
    error = _with_timeout(lambda: read_header(fifo), 5)
    assert isinstance(error, GGUFError) and "not a regular file" in str(error)
    entries = _with_timeout(
        lambda: scan_library(
            models_dir=models,
            cache=DescribeCache(tmp_path / "c"),
            lm_studio=[],
            include_hf_cache=False,
        ),
        5,
    )
    assert [e.path for e in entries] == [good]  # not a regular file: not listed at all
    assert _with_timeout(lambda: cli_main(["inspect", str(fifo)]), 5) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_a_symlink_loop_fails_alone_and_the_other_models_are_listed(tmp_path: Path) -> None:
    models = tmp_path / "models"
    _write(models / "good.gguf", llama_model())
    (models / "a.gguf").symlink_to(models / "b.gguf")
    (models / "b.gguf").symlink_to(models / "a.gguf")
    entries = scan_library(
        models_dir=models, cache=DescribeCache(tmp_path / "c"), lm_studio=[], include_hf_cache=False
    )
    by_name = {e.path.name: e for e in entries}
    assert by_name["good.gguf"].is_ok
    assert by_name["a.gguf"].model is None and "cannot read the file" in (
        by_name["a.gguf"].error or ""
    )
    assert set(by_name) == {"good.gguf", "a.gguf", "b.gguf"}


def test_a_wrong_typed_value_fails_only_its_own_row(tmp_path: Path) -> None:
    models = tmp_path / "models"
    good = _write(models / "good.gguf", llama_model())
    bad = llama_model({"llama.context_length": kv_str("llama.context_length", "abc")})
    _write(models / "bad.gguf", bad)
    entries = scan_library(
        models_dir=models, cache=DescribeCache(tmp_path / "c"), lm_studio=[], include_hf_cache=False
    )
    rows = {e.path.name: e for e in entries}
    assert rows["good.gguf"].is_ok and rows["good.gguf"].path == good
    assert rows["bad.gguf"].error == "llama.context_length must be a whole number, not 'abc'"


def test_a_split_of_99999_parts_is_a_short_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path / "big-00001-of-99999.gguf", llama_model())
    with pytest.raises(GGUFError) as caught:
        read_model(first)
    assert len(str(caught.value)) < 200 and "99,995 more" in str(caught.value)
    assert cli_main(["inspect", str(first)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 600


def test_inspect_into_a_closed_pipe_ends_without_a_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path / "ok.gguf", llama_model())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmdesk", "inspect", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before anything is written: `| head -0`
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("layers.gguf", llama_model({"llama.block_count": kv_u32("llama.block_count", 1000)})),
        ("eps.gguf", llama_model({RMS: kv_typed(RMS, "f32", NAN)})),
        ("deep.gguf", llama_model({"d": kv_nested("d", 5000)})),
        (
            "huge.gguf",
            llama_model({"llama.block_count": kv_typed("llama.block_count", "u64", 10**8)}),
        ),
    ],
)
def test_the_cli_refuses_hostile_headers_in_one_line_with_status_2(
    tmp_path: Path, name: str, data: bytes
) -> None:
    path = _write(tmp_path / name, data)
    for command in (["inspect"], ["fit", "--vram", "8GiB"], ["estimate"]):
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "lmdesk", command[0], str(path), *command[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("lmdesk: ") and proc.stderr.count("\n") == 1
        assert "Traceback" not in proc.stderr and proc.stdout == ""
        assert time.monotonic() - started < 30


def test_describe_refuses_what_llama_cpp_would_abort_on_from_a_header_alone(
    tmp_path: Path,
) -> None:
    # The same check serves the Hub's remote headers (describe of a parsed header).
    header = read_header(_write(tmp_path / "x.gguf", llama_model({RMS: kv_typed(RMS, "f32", NAN)})))
    with pytest.raises(GGUFError, match="layer_norm_rms_epsilon"):
        describe(header)


_LOAD_CHILD = """
import sys
from lmdesk.core.engine import Engine, ModelFileError
from lmdesk.core.load_settings import LoadSettings
try:
    Engine().load(sys.argv[1], LoadSettings(n_ctx=256, n_threads=1))
except ModelFileError as exc:
    print(exc)
    sys.exit(3)
"""


def _patched(path: Path, key: str, fmt: str, value: object) -> Path:
    """Overwrite the scalar stored under ``key`` in a real model file (same type and size)."""
    data = bytearray(path.read_bytes())
    at = data.index(gguf_string(key)) + len(gguf_string(key)) + 4  # after the value type
    struct.pack_into(fmt, data, at, value)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("key", "fmt", "value"),
    [("llama.block_count", "<I", 0), ("llama.block_count", "<I", 1000), (RMS, "<f", NAN)],
    ids=["0-layers", "1000-layers", "nan-epsilon"],
)
def test_the_engine_refuses_headers_llama_cpp_aborts_on(
    tmp_path: Path, key: str, fmt: str, value: object
) -> None:
    # A real, loadable model with one value changed. In a child process: on the old
    # code llama.cpp's GGML_ASSERT killed the process (SIGABRT) instead of an error.
    path = _patched(write_model(tmp_path / "abort.gguf", n_layer=1), key, fmt, value)
    proc = subprocess.run(
        [sys.executable, "-c", _LOAD_CHILD, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.startswith(f"abort.gguf cannot be loaded: {key}")


def test_the_model_those_are_patched_from_loads(tmp_path: Path) -> None:
    from lmdesk.core.engine import Engine
    from lmdesk.core.load_settings import LoadSettings

    engine = Engine()
    engine.load(write_model(tmp_path / "ok.gguf", n_layer=1), LoadSettings(n_ctx=256))
    engine.unload()
