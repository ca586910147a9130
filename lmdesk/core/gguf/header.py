"""Parse a GGUF header: metadata, tensor infos, alignment and where the data begins.

Only the header is read; tensor data is never touched, so a partial download
whose header is whole can still be described. Every count and length is
checked before anything is allocated.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from .errors import GGUFError
from .source import Cursor, RangeSource, StreamSource, open_source

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32

# Sanity limits: far above any real model, far below what would exhaust memory.
# The largest vocabularies (256k tokens with scores and types, 300k merges) hold
# about 1.1 million array items and a few MB of text in all.
MAX_TENSORS = 1 << 17
MAX_KV = 1 << 16
MAX_ITEMS = 1 << 22  # array items in the whole header
MAX_TEXT_BYTES = 1 << 26  # bytes of strings in the whole header
MAX_DEPTH = 8  # arrays of arrays of ...
MAX_DIMS = 4

# GGUF metadata value types -> struct format (None: handled specially).
_SCALARS: dict[int, str] = {
    0: "B",
    1: "b",
    2: "H",
    3: "h",
    4: "I",
    5: "i",
    6: "f",
    7: "?",
    10: "Q",
    11: "q",
    12: "d",
}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as the header describes it; ``offset`` is relative to the data start."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int
    n_bytes: int
    split: int = 0  # which file of a split model holds the data

    @property
    def type_name(self) -> str:
        return GGMLQuantizationType(self.ggml_type).name

    @property
    def n_elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@dataclass(frozen=True)
class GGUFHeader:
    """Everything in a GGUF file before its tensor data."""

    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    header_bytes_read: int
    file_size: int | None = None
    path: str | None = None
    metadata_types: dict[str, int] = field(default_factory=dict, repr=False)
    split_complete: bool | None = None  # set on a merged split model: every part whole

    @property
    def data_size(self) -> int:
        """Bytes of tensor data the header promises (up to the end of the last tensor)."""
        return max((t.offset + t.n_bytes for t in self.tensors), default=0)

    @property
    def expected_file_size(self) -> int:
        return self.data_offset + self.data_size

    @property
    def is_complete(self) -> bool | None:
        """False for a truncated file (a partial download); None when the size is unknown."""
        if self.split_complete is not None:
            return self.split_complete
        if self.file_size is None:
            return None
        return self.file_size >= self.expected_file_size


def read_header(source: str | os.PathLike[str] | BinaryIO | RangeSource) -> GGUFHeader:
    """Read the header of a GGUF file from a path, an open binary stream or a range source.

    Raises GGUFError with a readable reason for anything that is not a sound GGUF header.
    """
    if isinstance(source, str | os.PathLike):
        stream, file_source = open_source(source)
        with stream:
            header = _parse(Cursor(file_source))
        return _with_path(header, os.fspath(source))
    if isinstance(source, RangeSource):
        return _parse(Cursor(source))
    return _parse(Cursor(StreamSource(source)))


def _with_path(header: GGUFHeader, path: str) -> GGUFHeader:
    return replace(header, path=path)


def _parse(cur: Cursor) -> GGUFHeader:
    magic = cur.take(4) if cur.size is None or cur.size >= 4 else b""
    if magic != GGUF_MAGIC:
        raise GGUFError("not a GGUF file (it does not start with the GGUF magic bytes)")
    version = cur.u32()
    if version not in SUPPORTED_VERSIONS:
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        if swapped in SUPPORTED_VERSIONS:
            cur.endian, version = ">", swapped
        elif version == 1:
            raise GGUFError("GGUF version 1 is obsolete; convert the model again with llama.cpp")
        else:
            raise GGUFError(f"unsupported GGUF version {version} (lmdesk reads versions 2 and 3)")
    n_tensors, n_kv = cur.u64(), cur.u64()
    if n_tensors > MAX_TENSORS:
        raise GGUFError(f"the header claims {n_tensors:,} tensors; that cannot be a real model")
    if n_kv > MAX_KV:
        raise GGUFError(f"the header claims {n_kv:,} metadata entries; that is not a real model")

    metadata: dict[str, Any] = {}
    types: dict[str, int] = {}
    budget = _Budget()
    for _ in range(n_kv):
        key = budget.string(cur)
        value_type = cur.u32()
        metadata[key] = _value(cur, value_type, key, budget)
        types[key] = value_type

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment must be a power of two, not {alignment!r}")

    tensors = tuple(_tensor_info(cur, alignment) for _ in range(n_tensors))
    data_offset = -(-cur.position // alignment) * alignment
    _check_layout(tensors, alignment)
    return GGUFHeader(
        version=version,
        metadata=metadata,
        tensors=tensors,
        alignment=alignment,
        data_offset=data_offset,
        header_bytes_read=cur.bytes_fetched,
        file_size=cur.size,
        metadata_types=types,
    )


class _Budget:
    """What one header may still make the reader allocate: array items and bytes of text."""

    def __init__(self) -> None:
        self.items = MAX_ITEMS
        self.text = MAX_TEXT_BYTES

    def take_items(self, count: int, key: str) -> None:
        if count > self.items:
            raise GGUFError(
                f"metadata {key!r} claims an array of {count:,} items, more than a header "
                f"may hold ({MAX_ITEMS:,} items in all)"
            )
        self.items -= count

    def strings(self, cur: Cursor, count: int) -> list[str]:
        values = cur.strings(count, self.text)
        self.text -= sum(len(v) for v in values)
        return values

    def string(self, cur: Cursor) -> str:
        return self.strings(cur, 1)[0]


def _value(cur: Cursor, value_type: int, key: str, budget: _Budget) -> Any:
    """One metadata value; nested arrays are read with an explicit stack, not recursion."""
    if value_type != _ARRAY:
        return _scalar(cur, value_type, key, budget)
    root: list[Any] = []
    # Each frame: the list being filled and how many nested arrays it still expects.
    stack: list[tuple[list[Any], int]] = [(root, 1)]
    while stack:
        target, left = stack.pop()
        if left == 0:
            continue
        stack.append((target, left - 1))
        item_type, count = cur.u32(), cur.u64()
        budget.take_items(count, key)
        if item_type == _ARRAY:
            if len(stack) > MAX_DEPTH:
                raise GGUFError(f"metadata {key!r} nests arrays more than {MAX_DEPTH} deep")
            inner: list[Any] = []
            target.append(inner)
            stack.append((inner, count))
        else:
            target.append(_flat_array(cur, item_type, count, key, budget))
    return root[0]


def _flat_array(cur: Cursor, item_type: int, count: int, key: str, budget: _Budget) -> list[Any]:
    if item_type == _STRING:
        return budget.strings(cur, count)
    if item_type in _SCALARS:
        fmt = _SCALARS[item_type]
        remaining = cur.remaining()
        if remaining is not None and count * _item_size(fmt) > remaining:
            raise GGUFError(f"metadata {key!r} claims more items than the file holds")
        return list(cur.unpack(f"{count}{fmt}"))
    raise GGUFError(f"metadata {key!r} is an array of unknown type {item_type}")


def _scalar(cur: Cursor, value_type: int, key: str, budget: _Budget) -> Any:
    if value_type in _SCALARS:
        return cur.unpack(_SCALARS[value_type])[0]
    if value_type == _STRING:
        return budget.string(cur)
    raise GGUFError(f"metadata {key!r} has an unknown value type {value_type}")


def _item_size(fmt: str) -> int:
    return struct.calcsize("<" + fmt)


def _tensor_info(cur: Cursor, alignment: int) -> TensorInfo:
    name = cur.strings(1, 1024)[0]
    n_dims = cur.u32()
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFError(f"tensor {name!r} has {n_dims} dimensions (GGML allows 1 to {MAX_DIMS})")
    shape = tuple(int(d) for d in cur.unpack(f"{n_dims}Q"))
    ggml_type, offset = cur.u32(), cur.u64()
    try:
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
    except (ValueError, KeyError):
        raise GGUFError(f"tensor {name!r} has an unknown GGML type {ggml_type}") from None
    n_elements = 1
    for dim in shape:
        if dim <= 0 or dim > 1 << 40:
            raise GGUFError(f"tensor {name!r} has an impossible shape {shape}")
        n_elements *= dim
    if shape[0] % block:
        raise GGUFError(f"tensor {name!r}: a row of {shape[0]} is not a whole number of blocks")
    if offset % alignment:
        raise GGUFError(f"tensor {name!r} starts at an unaligned offset {offset}")
    return TensorInfo(name, shape, ggml_type, offset, n_elements // block * type_size)


def _check_layout(tensors: tuple[TensorInfo, ...], alignment: int) -> None:
    """Tensors must not overlap, and no offset may point past the data they add up to."""
    names: set[str] = set()
    end = 0
    padded_total = 0
    for tensor in sorted(tensors, key=lambda t: t.offset):
        if tensor.name in names:
            raise GGUFError(f"tensor {tensor.name!r} appears twice")
        names.add(tensor.name)
        if tensor.offset < end:
            raise GGUFError(f"tensor {tensor.name!r} overlaps the tensor before it")
        end = tensor.offset + tensor.n_bytes
        padded_total += -(-tensor.n_bytes // alignment) * alignment
    if end > padded_total:
        raise GGUFError(
            f"a tensor offset points past the tensor data ({end:,} > {padded_total:,} bytes)"
        )
