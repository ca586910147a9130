"""A small, real LLaVA-style projector (``mmproj``) for any text model, written with ``gguf``.

llama.cpp's multimodal library (libmtmd) loads it like any vision projector: a 2-layer
CLIP vision tower on 32x32 images (16 px patches) and a two-matrix MLP into the text
model's embedding width. Its weights are random, so what the model "sees" means nothing,
but every step of the real pipeline runs: decode, preprocess, encode, project, decode the
image's embeddings in the text model, then generate.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from gguf import GGUFWriter

HIDDEN = 32
FF = 64
IMAGE = 32
PATCH = 16


def write_mmproj(
    path: Path,
    *,
    text_embd: int,
    layers: int = 2,
    seed: int = 0,
    hidden: int = HIDDEN,
    ff: int = FF,
    image: int = IMAGE,
    patch: int = PATCH,
    heads: int = 2,
    projector_type: str = "mlp",
) -> Path:
    """Write a projector whose output width is ``text_embd`` (the text model's n_embd).

    ``hidden``, ``ff``, ``image``, ``patch`` and ``heads`` shape the vision tower (a larger
    one gives compute buffers big enough to compare with libmtmd's log)."""
    rng = np.random.default_rng(seed)
    n_pos = (image // patch) ** 2 + 1  # the patches and the class embedding
    HIDDEN, FF, PATCH = hidden, ff, patch

    def weights(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = GGUFWriter(path, "clip")
    writer.add_string("general.name", "test projector")
    writer.add_string("clip.projector_type", projector_type)
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.embedding_length", HIDDEN)
    writer.add_uint32("clip.vision.feed_forward_length", FF)
    writer.add_uint32("clip.vision.block_count", layers)
    writer.add_uint32("clip.vision.projection_dim", text_embd)
    writer.add_uint32("clip.vision.attention.head_count", heads)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.image_size", image)
    writer.add_uint32("clip.vision.patch_size", PATCH)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    # numpy shapes are ggml's ne reversed
    writer.add_tensor("v.patch_embd.weight", weights(HIDDEN, 3, PATCH, PATCH))
    writer.add_tensor("v.class_embd", weights(HIDDEN))
    writer.add_tensor("v.position_embd.weight", weights(n_pos, HIDDEN))
    writer.add_tensor("v.pre_ln.weight", np.ones(HIDDEN, np.float32))
    writer.add_tensor("v.pre_ln.bias", np.zeros(HIDDEN, np.float32))
    for il in range(layers):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"v.blk.{il}.{name}.weight", weights(HIDDEN, HIDDEN))
            writer.add_tensor(f"v.blk.{il}.{name}.bias", np.zeros(HIDDEN, np.float32))
        for name in ("ln1", "ln2"):
            writer.add_tensor(f"v.blk.{il}.{name}.weight", np.ones(HIDDEN, np.float32))
            writer.add_tensor(f"v.blk.{il}.{name}.bias", np.zeros(HIDDEN, np.float32))
        writer.add_tensor(f"v.blk.{il}.ffn_up.weight", weights(FF, HIDDEN))
        writer.add_tensor(f"v.blk.{il}.ffn_up.bias", np.zeros(FF, np.float32))
        writer.add_tensor(f"v.blk.{il}.ffn_down.weight", weights(HIDDEN, FF))
        writer.add_tensor(f"v.blk.{il}.ffn_down.bias", np.zeros(HIDDEN, np.float32))
    writer.add_tensor("mm.0.weight", weights(text_embd, HIDDEN))
    writer.add_tensor("mm.0.bias", np.zeros(text_embd, np.float32))
    writer.add_tensor("mm.2.weight", weights(text_embd, text_embd))
    writer.add_tensor("mm.2.bias", np.zeros(text_embd, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def png(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A real PNG (RGB, a gradient); with ``pixels=False`` only its header (for size checks)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    head = b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    )
    if not pixels:
        return head
    raw = b"".join(
        b"\x00" + b"".join(bytes((x * 7 % 256, y * 5 % 256, 128)) for x in range(width))
        for y in range(height)
    )
    return head + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
