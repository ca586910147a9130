"""Raw GGUF bytes built by hand, for headers the `gguf` writer refuses to produce."""

from __future__ import annotations

import struct


def gguf_string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data)) + data


def kv_u32(key: str, value: int) -> bytes:
    return gguf_string(key) + struct.pack("<II", 4, value)


def kv_str(key: str, value: str) -> bytes:
    return gguf_string(key) + struct.pack("<I", 8) + gguf_string(value)


def kv_f32(key: str, value: float) -> bytes:
    return gguf_string(key) + struct.pack("<If", 6, value)


def kv_array(key: str, kind: str, values: list[str] | list[float] | list[int]) -> bytes:
    """An array value: ``kind`` is 'str', 'f32' or 'i32'."""
    code = {"i32": 5, "f32": 6, "str": 8}[kind]
    out = gguf_string(key) + struct.pack("<IIQ", 9, code, len(values))
    if kind == "str":
        return out + b"".join(gguf_string(str(v)) for v in values)
    return out + struct.pack(f"<{len(values)}{'f' if kind == 'f32' else 'i'}", *values)


def tensor_info(name: str, shape: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    out = gguf_string(name) + struct.pack("<I", len(shape))
    out += b"".join(struct.pack("<Q", d) for d in shape)
    return out + struct.pack("<IQ", ggml_type, offset)


def header(
    kvs: list[bytes],
    tensors: list[bytes],
    *,
    version: int = 3,
    n_tensors: int | None = None,
    n_kv: int | None = None,
    magic: bytes = b"GGUF",
) -> bytes:
    count_t = len(tensors) if n_tensors is None else n_tensors
    count_kv = len(kvs) if n_kv is None else n_kv
    out = (
        magic + struct.pack("<IQQ", version, count_t, count_kv) + b"".join(kvs) + b"".join(tensors)
    )
    return out + b"\0" * (-len(out) % 32)


def minimal_model(*, extra_tensors: list[bytes] | None = None, data: bool = True) -> bytes:
    """A two-tensor 'llama' header (F32 32x2 and 32), optionally with its data."""
    kvs = [
        kv_str("general.architecture", "llama"),
        kv_u32("llama.block_count", 1),
        kv_u32("llama.embedding_length", 32),
        kv_u32("llama.attention.head_count", 4),
    ]
    tensors = [
        tensor_info("token_embd.weight", (32, 2), 0, 0),
        tensor_info("blk.0.attn_norm.weight", (32,), 0, 256),
    ]
    out = header(kvs, tensors + (extra_tensors or []))
    return out + (b"\0" * 384 if data else b"")
