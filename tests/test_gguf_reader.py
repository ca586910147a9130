"""The GGUF header reader on the real SmolLM2 file, on written models, and on bad bytes."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf_bytes import gguf_string, header, kv_str, kv_u32, minimal_model, tensor_info
from gguf_factory import Q, write_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lmdesk.core.gguf import GGUFError, describe, read_header, read_model

# --- the real model ---------------------------------------------------------------------


def test_smollm2_description(smollm2_path: Path) -> None:
    model = read_model(smollm2_path)
    assert (model.architecture, model.n_layer, model.n_embd) == ("llama", 30, 576)
    assert (model.n_head[0], model.n_head_kv[0], model.head_dim_k) == (9, 3, 64)
    assert model.n_ctx_train == 8192
    assert model.n_vocab == 49152
    assert model.quantization == "Q4_1"
    assert model.has_chat_template and "im_start" in (model.chat_template or "")
    assert model.tied_embeddings
    assert model.n_expert == 0 and model.n_swa == 0
    assert model.is_complete is True
    assert model.file_size == 98_362_432
    # llama.cpp reports 92.10 MiB of weights for this file
    assert model.weights_bytes == 96_576_768
    assert model.input_bytes == model.token_embd.n_bytes == 30_081_024  # type: ignore[union-attr]
    assert sum(model.layer_bytes) + model.input_bytes + 2304 == model.weights_bytes
    assert len(set(model.layer_bytes)) == 1  # every block has the same shape


def test_smollm2_header_matches_gguf_reader(smollm2_path: Path) -> None:
    ours = read_header(smollm2_path)
    theirs = gguf.GGUFReader(smollm2_path)
    assert ours.data_offset == theirs.data_offset
    assert len(ours.tensors) == len(theirs.tensors) == 272
    for mine, ref in zip(ours.tensors, theirs.tensors, strict=True):
        assert mine.name == ref.name
        assert mine.shape == tuple(int(d) for d in ref.shape)
        assert mine.ggml_type == int(ref.tensor_type)
        assert mine.offset == ref.data_offset - theirs.data_offset
        assert mine.n_bytes == int(ref.n_bytes)
    assert ours.header_bytes_read < 3 * 1024 * 1024  # the header, never the 94 MiB of data


def test_only_header_bytes_are_fetched_from_a_range_source(smollm2_path: Path) -> None:
    class CountingSource:
        def __init__(self, data: bytes) -> None:
            self.data, self.size, self.requests = data, len(data), []

        def read_range(self, offset: int, size: int) -> bytes:
            self.requests.append((offset, size))
            return self.data[offset : offset + size]

    source = CountingSource(smollm2_path.read_bytes())
    parsed = read_header(source)
    fetched = sum(size for _, size in source.requests)
    assert parsed.data_offset == 1_785_664
    assert fetched < parsed.data_offset * 2
    assert len(source.requests) <= 8  # chunks grow: a few requests, not thousands


# --- written models ---------------------------------------------------------------------


def test_every_metadata_type_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "types.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    values = {
        "t.u8": (7, gguf.GGUFValueType.UINT8),
        "t.i8": (-7, gguf.GGUFValueType.INT8),
        "t.u16": (65000, gguf.GGUFValueType.UINT16),
        "t.i16": (-300, gguf.GGUFValueType.INT16),
        "t.u32": (4_000_000_000, gguf.GGUFValueType.UINT32),
        "t.i32": (-2_000_000_000, gguf.GGUFValueType.INT32),
        "t.f32": (1.5, gguf.GGUFValueType.FLOAT32),
        "t.bool": (True, gguf.GGUFValueType.BOOL),
        "t.str": ("héllo", gguf.GGUFValueType.STRING),
        "t.u64": (2**63 + 5, gguf.GGUFValueType.UINT64),
        "t.i64": (-(2**62), gguf.GGUFValueType.INT64),
        "t.f64": (2.25, gguf.GGUFValueType.FLOAT64),
        "t.arr_i32": ([1, -2, 3], gguf.GGUFValueType.ARRAY),
        "t.arr_str": (["a", "bc", ""], gguf.GGUFValueType.ARRAY),
        "t.arr_f32": ([0.5, 1.0], gguf.GGUFValueType.ARRAY),
        "t.arr_nested": ([[1, 2], [3]], gguf.GGUFValueType.ARRAY),
    }
    for key, (value, vtype) in values.items():
        writer.add_key_value(key, value, vtype)
    writer.add_tensor("x.weight", np.ones((2, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    meta = read_header(path).metadata
    for key, (value, _) in values.items():
        assert meta[key] == value, key


def test_reads_paths_streams_and_partial_downloads(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.gguf", qtype=Q.Q8_0, n_layer=3)
    full = read_header(path)
    with path.open("rb") as stream:
        assert read_header(stream).tensors == full.tensors
    assert read_header(io.BytesIO(path.read_bytes())).metadata == full.metadata
    partial = tmp_path / "partial.gguf"
    partial.write_bytes(path.read_bytes()[: full.data_offset + 100])
    cut = read_header(partial)
    assert cut.is_complete is False and full.is_complete is True
    model = describe(cut)
    assert model.n_layer == 3 and model.is_complete is False
    assert model.weights_bytes == describe(full).weights_bytes


def test_split_model_is_read_as_one(tmp_path: Path) -> None:
    whole = read_model(write_model(tmp_path / "one.gguf", n_layer=4))
    first = write_model(tmp_path / "split" / "m.gguf", n_layer=4, split_max_tensors=10)
    split = read_model(first)
    assert first.name == "m-00001-of-00004.gguf"
    assert split.n_layer == 4
    assert split.weights_bytes == whole.weights_bytes
    assert sorted(t.name for t in split.tensors) == sorted(t.name for t in whole.tensors)
    assert {t.split for t in split.tensors} == {0, 1, 2, 3}
    (first.parent / "m-00003-of-00004.gguf").unlink()
    with pytest.raises(GGUFError, match=r"missing: m-00003-of-00004\.gguf"):
        read_model(first)


def test_sliding_window_layers_follow_llama_cpp(tmp_path: Path) -> None:
    path = write_model(tmp_path / "g2.gguf", arch="gemma2", n_layer=6, sliding_window=128)
    model = read_model(path)
    assert model.n_swa == 128
    assert model.swa_layers == (True, False, True, False, True, False)


# --- bad input --------------------------------------------------------------------------


def _bad(tmp_path: Path, data: bytes) -> GGUFError:
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError) as info:
        read_header(path)
    return info.value


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a GGUF file"),
        (b"PK\x03\x04" + b"\0" * 60, "not a GGUF file"),
        (header([], [], version=1), "version 1 is obsolete"),
        (header([], [], version=99), "unsupported GGUF version 99"),
        (header([], [], n_tensors=2**40), "1,099,511,627,776 tensors"),
        (header([], [], n_kv=2**33), "metadata entries"),
        (minimal_model()[:40], "truncated"),
        (
            header([gguf_string("k") + struct.pack("<I", 8) + struct.pack("<Q", 2**60)], []),
            "claims 1,152,921,504,606,846,976 bytes",
        ),
        (header([gguf_string("k") + struct.pack("<I", 77)], []), "unknown value type 77"),
        (header([gguf_string("k") + struct.pack("<IIQ", 9, 4, 2**50)], []), "array of"),
        (header([], [tensor_info("t", (32,), 999, 0)]), "unknown GGML type 999"),
        (header([], [tensor_info("t", (32,), 0, 7)]), "unaligned"),
        (header([], [tensor_info("t", (32,), 0, 2**40)]), "points past the tensor data"),
        (header([], [tensor_info("a", (64,), 0, 0), tensor_info("b", (64,), 0, 128)]), "overlaps"),
        (header([], [tensor_info("t", (32, 0), 0, 0)]), "impossible shape"),
        (header([], [tensor_info("t", (1,) * 5, 0, 0)]), "5 dimensions"),
        (
            header([kv_str("general.architecture", "llama")], [tensor_info("t", (33,), 8, 0)]),
            "whole number of blocks",
        ),
    ],
)
def test_bad_headers_get_a_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    assert message in str(_bad(tmp_path, data))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="no such file"):
        read_model(tmp_path / "absent.gguf")
    with pytest.raises(GGUFError, match="is a folder"):
        read_header(tmp_path)


def test_header_without_model_keys_cannot_be_described(tmp_path: Path) -> None:
    path = tmp_path / "nokeys.gguf"
    path.write_bytes(header([kv_u32("x", 1)], []))
    with pytest.raises(GGUFError, match=r"general\.architecture"):
        read_model(path)


_VALID = minimal_model()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(0, len(_VALID)),
    flips=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=6),
)
def test_fuzzed_headers_never_crash(cut: int, flips: list[tuple[int, int]]) -> None:
    """Truncate and corrupt a valid header: the reader returns or raises GGUFError, nothing else."""
    data = bytearray(_VALID)
    for index, value in flips:
        data[index] = value
    try:
        parsed = read_header(io.BytesIO(bytes(data[:cut])))
    except GGUFError as exc:
        assert str(exc)
    else:
        assert parsed.data_offset <= max(len(data), parsed.data_offset)


def test_big_endian_files_are_read(tmp_path: Path) -> None:
    path = tmp_path / "be.gguf"
    writer = gguf.GGUFWriter(path, "llama", endianess=gguf.GGUFEndian.BIG)
    writer.add_block_count(1)
    writer.add_embedding_length(32)
    writer.add_head_count(4)
    writer.add_token_list(["a", "bc"])
    writer.add_tensor("token_embd.weight", np.ones((2, 32), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    model = read_model(path)
    assert (model.n_layer, model.n_embd, model.n_head[0], model.n_vocab) == (1, 32, 4, 2)
    assert model.tensors[0].shape == (32, 2) and model.is_complete
