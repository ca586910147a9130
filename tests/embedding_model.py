"""An embedding model from the real SmolLM2: the same file with ``llama.pooling_type`` set.

llama.cpp then pools the last hidden states (mean) into one vector per text, as it does for
embedding models such as nomic-embed or bge; no Hugging Face download needed.
"""

from __future__ import annotations

import struct
from pathlib import Path

from gguf_bytes import kv_str, kv_u32

ALIGNMENT = 32  # GGUF's default; SmolLM2's file sets no other
MEAN = 1


def with_pooling(source: Path, target: Path, pooling: int = MEAN) -> Path:
    """Copy ``source`` to ``target`` with a pooling type among its metadata.

    The new keys go first in the metadata, padded to a multiple of the alignment, so the
    tensor data (addressed relative to its aligned start) stays valid as it is.
    """
    data = source.read_bytes()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", data)
    assert magic == b"GGUF"
    pooling_kv = kv_u32("llama.pooling_type", pooling)
    pad_kv = kv_str("lmdesk.test.padding", "")
    pad = -(len(pooling_kv) + len(pad_kv)) % ALIGNMENT
    added = pooling_kv + kv_str("lmdesk.test.padding", "x" * pad)
    assert len(added) % ALIGNMENT == 0
    head = struct.pack("<4sIQQ", magic, version, n_tensors, n_kv + 2)
    target.write_bytes(head + added + data[24:])
    return target
