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


# Typed values, for headers with a wrong type or a hostile value where a number belongs.
SCALAR_CODES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7}
SCALAR_CODES |= {"u64": 10, "i64": 11, "f64": 12}
_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q"}
_FORMATS[12] = "d"


def kv_typed(key: str, kind: str, value: object) -> bytes:
    """A scalar of GGUF type ``kind`` ('u32', 'i32', 'f32', 'f64', 'bool', ...) or 'str'."""
    if kind == "str":
        return kv_str(key, str(value))
    code = SCALAR_CODES[kind]
    return gguf_string(key) + struct.pack(f"<I{_FORMATS[code]}", code, value)


def kv_nested(key: str, depth: int, leaf: int = 7) -> bytes:
    """An array of arrays ``depth`` deep, holding one u32 ``leaf`` at the bottom."""
    out = gguf_string(key) + struct.pack("<I", 9)
    out += struct.pack("<IQ", 9, 1) * (depth - 1)
    return out + struct.pack("<IQI", 4, 1, leaf)


def kv_array_claim(key: str, item_code: int, count: int, payload: bytes = b"") -> bytes:
    """An array that claims ``count`` items of type ``item_code`` whatever ``payload`` holds."""
    return gguf_string(key) + struct.pack("<IIQ", 9, item_code, count) + payload


def llama_model(overrides: dict[str, bytes] | None = None, *, drop: tuple[str, ...] = ()) -> bytes:
    """`minimal_model`'s header with chosen metadata entries replaced, added or dropped."""
    kvs = {
        "general.architecture": kv_str("general.architecture", "llama"),
        "llama.block_count": kv_u32("llama.block_count", 1),
        "llama.embedding_length": kv_u32("llama.embedding_length", 32),
        "llama.attention.head_count": kv_u32("llama.attention.head_count", 4),
    }
    kvs |= overrides or {}
    tensors = [
        tensor_info("token_embd.weight", (32, 2), 0, 0),
        tensor_info("blk.0.attn_norm.weight", (32,), 0, 256),
    ]
    return header([v for k, v in kvs.items() if k not in drop], tensors) + b"\0" * 384
