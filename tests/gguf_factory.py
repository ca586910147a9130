"""Small GGUF models written with the `gguf` package's writer, for tests and benchmarks.

llama.cpp loads them for real (an SPM vocabulary of byte tokens is enough), so
the estimator can be checked against models of other shapes than SmolLM2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

Q = GGMLQuantizationType
# general.file_type (llama_ftype) of a model whose matrices are all of one GGML type
_FILE_TYPES = {
    Q.F32: 0,
    Q.F16: 1,
    Q.Q4_0: 2,
    Q.Q4_1: 3,
    Q.Q8_0: 7,
    Q.Q5_0: 8,
    Q.Q5_1: 9,
    Q.Q2_K: 10,
    Q.Q4_K: 15,
    Q.Q5_K: 17,
    Q.Q6_K: 18,
}


def spm_vocab(n_vocab: int) -> tuple[list[str], list[float], list[int]]:
    """A SentencePiece-style vocabulary: 3 specials, 256 byte tokens, then filler tokens."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"tok{i}" for i in range(n_vocab - len(tokens))]
    scores = [0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(n_vocab - 259)]
    types = [2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259)
    return tokens[:n_vocab], scores[:n_vocab], types[:n_vocab]


def _tensor(writer: GGUFWriter, name: str, shape: tuple[int, ...], qtype: Q, rng: Any) -> None:
    """Add a tensor; ``shape`` is GGUF order (row length first)."""
    if qtype == Q.F32 or len(shape) == 1:
        data = (rng.standard_normal(shape[::-1]) * 0.02).astype(np.float32)
        writer.add_tensor(name, data)
        return
    block, type_size = GGML_QUANT_SIZES[qtype]
    n_rows = int(np.prod(shape[1:]))
    raw = np.zeros((n_rows, shape[0] // block * type_size), dtype=np.uint8)
    writer.add_tensor(name, raw, raw_dtype=qtype)


def write_model(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 4,
    n_embd: int = 128,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 256,
    n_vocab: int = 512,
    n_ctx_train: int = 4096,
    tied: bool = True,
    qtype: Q = Q.F32,
    chat_template: str | None = None,
    sliding_window: int = 0,
    split_max_tensors: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a small, loadable model; returns the path of its (first) file."""
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    writer.add_name(f"test {arch} {n_layer}L")
    writer.add_block_count(n_layer)
    writer.add_context_length(n_ctx_train)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_file_type(_FILE_TYPES.get(qtype, 0))
    if sliding_window:
        writer.add_sliding_window(sliding_window)
    tokens, scores, types = spm_vocab(n_vocab)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    if chat_template:
        writer.add_chat_template(chat_template)
    for key, value in (extra or {}).items():
        writer.add_key_value(key, value[0], value[1])
    head_dim = n_embd // n_head
    _tensor(writer, "token_embd.weight", (n_embd, n_vocab), qtype, rng)
    for il in range(n_layer):
        p = f"blk.{il}."
        _tensor(writer, p + "attn_norm.weight", (n_embd,), Q.F32, rng)
        _tensor(writer, p + "attn_q.weight", (n_embd, n_embd), qtype, rng)
        _tensor(writer, p + "attn_k.weight", (n_embd, head_dim * n_head_kv), qtype, rng)
        _tensor(writer, p + "attn_v.weight", (n_embd, head_dim * n_head_kv), qtype, rng)
        _tensor(writer, p + "attn_output.weight", (n_embd, n_embd), qtype, rng)
        _tensor(writer, p + "ffn_norm.weight", (n_embd,), Q.F32, rng)
        _tensor(writer, p + "ffn_gate.weight", (n_embd, n_ff), qtype, rng)
        _tensor(writer, p + "ffn_up.weight", (n_embd, n_ff), qtype, rng)
        _tensor(writer, p + "ffn_down.weight", (n_ff, n_embd), qtype, rng)
    _tensor(writer, "output_norm.weight", (n_embd,), Q.F32, rng)
    if not tied:
        _tensor(writer, "output.weight", (n_embd, n_vocab), qtype, rng)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if split_max_tensors:
        return sorted(path.parent.glob(f"{path.stem}-00001-of-*.gguf"))[0]
    return path
