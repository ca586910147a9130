"""Header-only GGUF files shaped like real models, padded to their full size as sparse files.

The header (metadata and tensor infos) is exactly what a quantized Llama 3.1 8B, Qwen2.5
0.5B or Mistral Nemo 12B file starts with, so the estimator, the library and the remote
header reader see real models; the tensor data is a hole in a sparse file, so a "4.6 GiB"
file costs a few kilobytes of disk.

With ``loadable=True`` the header also carries a tokenizer (a SentencePiece-style
vocabulary of the model's size) and the few keys llama.cpp insists on, and Qwen2 gets its
attention biases: llama.cpp then loads the file for real, all-zero weights and all, and
allocates exactly what it would for the real model. That is how the estimate is checked
against llama.cpp at real sizes (8B, 12B) without downloading them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf_bytes import header, kv_array, kv_f32, kv_str, kv_u32, tensor_info
from gguf_factory import spm_vocab

Q = GGMLQuantizationType
# quantization label -> (general.file_type, main type, type of attn_v / ffn_down / output)
QUANTS: dict[str, tuple[int, Q, Q]] = {
    "Q4_K_M": (15, Q.Q4_K, Q.Q6_K),
    "Q5_K_M": (17, Q.Q5_K, Q.Q6_K),
    "Q6_K": (18, Q.Q6_K, Q.Q6_K),
    "Q8_0": (7, Q.Q8_0, Q.Q8_0),
    "F16": (1, Q.F16, Q.F16),
}


@dataclass(frozen=True)
class Shape:
    arch: str
    name: str
    size_label: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx_train: int
    tied: bool = False
    head_dim: int = 0  # 0: n_embd // n_head
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0  # rows of one expert
    n_swa: int = 0  # sliding window (which layers use it: llama.cpp's pattern per arch)

    @property
    def n_rot(self) -> int:
        return self.head_dim or self.n_embd // self.n_head


LLAMA_31_8B = Shape(
    "llama", "Meta Llama 3.1 8B Instruct", "8B", 32, 4096, 14336, 32, 8, 128256, 131072
)
LLAMA_32_3B = Shape(
    "llama", "Llama 3.2 3B Instruct", "3B", 28, 3072, 8192, 24, 8, 128256, 131072, True
)
QWEN25_05B = Shape(
    "qwen2", "Qwen2.5 0.5B Instruct", "0.5B", 24, 896, 4864, 14, 2, 151936, 32768, True
)
NEMO_12B = Shape(
    "llama", "Mistral Nemo Instruct 2407", "12B", 40, 5120, 14336, 32, 8, 131072, 1024000
)
QWEN3_30B_A3B = Shape(
    "qwen3moe", "Qwen3 30B A3B", "30B-A3B", 48, 2048, 6144, 32, 4, 151936, 40960,
    head_dim=128, n_expert=128, n_expert_used=8, n_ff_exp=768,
)  # fmt: skip
GEMMA2_27B = Shape(
    "gemma2", "Gemma 2 27b It", "27B", 46, 4608, 36864, 32, 16, 256000, 8192, True,
    head_dim=128, n_swa=4096,
)  # fmt: skip
GEMMA3_12B = Shape(
    "gemma3", "Gemma 3 12b It", "12B", 48, 3840, 15360, 16, 8, 262208, 131072, True,
    head_dim=256, n_swa=1024,
)  # fmt: skip
TINY_MOE = Shape(
    "qwen3moe", "Tiny MoE", "tiny", 4, 256, 512, 4, 2, 1000, 4096,
    head_dim=64, n_expert=8, n_expert_used=2, n_ff_exp=256,
)  # fmt: skip
GPT_OSS_20B = Shape(
    "gpt-oss", "Gpt Oss 20b", "20B", 24, 2880, 2880, 64, 8, 201088, 131072,
    head_dim=64, n_expert=32, n_expert_used=4, n_ff_exp=2880, n_swa=128,
)  # fmt: skip


def _n_bytes(shape: tuple[int, ...], qtype: Q) -> int:
    block, size = GGML_QUANT_SIZES[qtype]
    n = 1
    for dim in shape:
        n *= dim
    return n // block * size


def _tensors(
    s: Shape, main: Q, strong: Q, *, biases: bool = False
) -> list[tuple[str, tuple[int, ...], Q]]:
    head_dim = s.n_rot
    q_width, kv_width = s.n_head * head_dim, s.n_head_kv * head_dim
    out: list[tuple[str, tuple[int, ...], Q]] = [("token_embd.weight", (s.n_embd, s.n_vocab), main)]
    for il in range(s.n_layer):
        p = f"blk.{il}."
        out += [
            (p + "attn_norm.weight", (s.n_embd,), Q.F32),
            (p + "attn_q.weight", (s.n_embd, q_width), main),
            (p + "attn_k.weight", (s.n_embd, kv_width), main),
            (p + "attn_v.weight", (s.n_embd, kv_width), strong),
            (p + "attn_output.weight", (q_width, s.n_embd), main),
        ]
        if s.n_expert:
            out += _moe_layer(s, p, main, strong)
            continue
        if s.arch.startswith("gemma"):
            out += [
                (p + "post_attention_norm.weight", (s.n_embd,), Q.F32),
                (p + "post_ffw_norm.weight", (s.n_embd,), Q.F32),
            ]
        if s.arch == "gemma3":
            out += [
                (p + "attn_q_norm.weight", (s.n_rot,), Q.F32),
                (p + "attn_k_norm.weight", (s.n_rot,), Q.F32),
            ]
        out += [
            (p + "ffn_norm.weight", (s.n_embd,), Q.F32),
            (p + "ffn_gate.weight", (s.n_embd, s.n_ff), main),
            (p + "ffn_up.weight", (s.n_embd, s.n_ff), main),
            (p + "ffn_down.weight", (s.n_ff, s.n_embd), strong),
        ]
        if biases:
            out += [
                (p + "attn_q.bias", (q_width,), Q.F32),
                (p + "attn_k.bias", (kv_width,), Q.F32),
                (p + "attn_v.bias", (kv_width,), Q.F32),
            ]
    out.append(("output_norm.weight", (s.n_embd,), Q.F32))
    if not s.tied:
        out.append(("output.weight", (s.n_embd, s.n_vocab), strong))
    return out


def _moe_layer(s: Shape, p: str, main: Q, strong: Q) -> list[tuple[str, tuple[int, ...], Q]]:
    """A mixture-of-experts block: the router and the stacked experts (and gpt-oss's extras)."""
    e, ff, embd = s.n_expert, s.n_ff_exp, s.n_embd
    experts = Q.MXFP4 if s.arch == "gpt-oss" else None
    out: list[tuple[str, tuple[int, ...], Q]] = [
        (p + "ffn_gate_inp.weight", (embd, e), Q.F32),
        (p + "ffn_gate_exps.weight", (embd, ff, e), experts or main),
        (p + "ffn_up_exps.weight", (embd, ff, e), experts or main),
        (p + "ffn_down_exps.weight", (ff, embd, e), experts or strong),
    ]
    if s.arch == "gpt-oss":
        q_width, kv_width = s.n_head * s.n_rot, s.n_head_kv * s.n_rot
        return [
            *out,
            (p + "post_attention_norm.weight", (embd,), Q.F32),
            (p + "attn_sinks.weight", (s.n_head,), Q.F32),
            (p + "attn_q.bias", (q_width,), Q.F32),
            (p + "attn_k.bias", (kv_width,), Q.F32),
            (p + "attn_v.bias", (kv_width,), Q.F32),
            (p + "attn_output.bias", (embd,), Q.F32),
            (p + "ffn_gate_inp.bias", (e,), Q.F32),
            (p + "ffn_gate_exps.bias", (ff, e), Q.F32),
            (p + "ffn_up_exps.bias", (ff, e), Q.F32),
            (p + "ffn_down_exps.bias", (embd, e), Q.F32),
        ]
    return [
        *out,
        (p + "ffn_norm.weight", (embd,), Q.F32),
        (p + "attn_q_norm.weight", (s.n_rot,), Q.F32),
        (p + "attn_k_norm.weight", (s.n_rot,), Q.F32),
    ]


def _general_metadata(a: str, s: Shape | MlaShape | Lfm2Shape, file_type: int) -> list[bytes]:
    """The keys every shape writes, up to the attention's head count (architecture `a`)."""
    return [
        kv_str("general.architecture", a),
        kv_str("general.name", s.name),
        kv_str("general.size_label", s.size_label),
        kv_u32("general.file_type", file_type),
        kv_u32(f"{a}.block_count", s.n_layer),
        kv_u32(f"{a}.context_length", s.n_ctx_train),
        kv_u32(f"{a}.embedding_length", s.n_embd),
        kv_u32(f"{a}.feed_forward_length", s.n_ff),
        kv_u32(f"{a}.attention.head_count", s.n_head),
    ]


def _spm_tokenizer(n_vocab: int) -> list[bytes]:
    """A SentencePiece-style vocabulary of `n_vocab` tokens, <s> = 1 and </s> = 2."""
    tokens, scores, types = spm_vocab(n_vocab)
    return [
        kv_str("tokenizer.ggml.model", "llama"),
        kv_array("tokenizer.ggml.tokens", "str", tokens),
        kv_array("tokenizer.ggml.scores", "f32", scores),
        kv_array("tokenizer.ggml.token_type", "i32", types),
        kv_u32("tokenizer.ggml.bos_token_id", 1),
        kv_u32("tokenizer.ggml.eos_token_id", 2),
    ]


def _metadata(s: Shape, file_type: int) -> list[bytes]:
    a = s.arch
    return [
        *_general_metadata(a, s, file_type),
        kv_u32(f"{a}.attention.head_count_kv", s.n_head_kv),
        kv_u32(f"{a}.vocab_size", s.n_vocab),
        *_expert_metadata(s),
    ]


def _expert_metadata(s: Shape) -> list[bytes]:
    a = s.arch
    out = []
    if s.head_dim:
        out += [kv_u32(f"{a}.attention.key_length", s.head_dim)]
        out += [kv_u32(f"{a}.attention.value_length", s.head_dim)]
    if s.n_expert:
        out += [
            kv_u32(f"{a}.expert_count", s.n_expert),
            kv_u32(f"{a}.expert_used_count", s.n_expert_used),
            kv_u32(f"{a}.expert_feed_forward_length", s.n_ff_exp),
        ]
    if s.n_swa:
        out += [kv_u32(f"{a}.attention.sliding_window", s.n_swa)]
    return out


def _write(
    path: Path, kvs: list[bytes], tensors: list[tuple[str, tuple[int, ...], Q]], keep: float
) -> Path:
    infos, offset = [], 0
    for name, dims, qtype in tensors:
        infos.append(tensor_info(name, dims, int(qtype), offset))
        offset += -(-_n_bytes(dims, qtype) // 32) * 32
    head = header(kvs, infos)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(head)
        f.truncate(len(head) + int(offset * keep))  # a hole: no disk used
    return path


def _loader_metadata(s: Shape) -> list[bytes]:
    """What llama.cpp needs beyond the shape to load the file: norms, rope, a tokenizer."""
    return [
        kv_f32(f"{s.arch}.attention.layer_norm_rms_epsilon", 1e-5),
        kv_u32(f"{s.arch}.rope.dimension_count", s.n_rot),
        *_spm_tokenizer(s.n_vocab),
    ]


def write_shaped(
    path: Path,
    shape: Shape,
    quant: str,
    *,
    parts: int = 1,
    keep: float = 1.0,
    loadable: bool = False,
) -> list[Path]:
    """Write `shape` at `quant` to `path` (split into `parts` files); `keep` < 1 truncates it.

    ``loadable``: add what llama.cpp needs to load it (see the module's docstring).
    """
    file_type, main, strong = QUANTS[quant]
    tensors = _tensors(shape, main, strong, biases=loadable and shape.arch == "qwen2")
    kvs = _metadata(shape, file_type) + (_loader_metadata(shape) if loadable else [])
    if parts == 1:
        return [_write(path, kvs, tensors, keep)]
    stem = path.name.removesuffix(".gguf")
    per_part = -(-len(tensors) // parts)
    written = []
    for no in range(parts):
        chunk = tensors[no * per_part : (no + 1) * per_part]
        split = [
            kv_u32("split.no", no),
            kv_u32("split.count", parts),
            kv_u32("split.tensors.count", len(tensors)),
        ]
        part_kvs = (kvs if no == 0 else [kv_str("general.architecture", shape.arch)]) + split
        target = path.with_name(f"{stem}-{no + 1:05d}-of-{parts:05d}.gguf")
        written.append(_write(target, part_kvs, chunk, keep))
    return written


LOADABLE: dict[str, tuple[Shape, str]] = {
    "llama-3.1-8b": (LLAMA_31_8B, "Q4_K_M"),
    "llama-3.2-3b": (LLAMA_32_3B, "Q4_K_M"),
    "qwen2.5-0.5b": (QWEN25_05B, "Q8_0"),
}
"""The shapes the accuracy checks load in llama.cpp, by key, with their quantization."""

MOE_LOADABLE: dict[str, tuple[Shape, str]] = {
    "qwen3-30b-a3b": (QWEN3_30B_A3B, "Q4_K_M"),
    "gpt-oss-20b": (GPT_OSS_20B, "Q8_0"),  # its experts are MXFP4, as in the real file
}
"""Mixture-of-experts shapes (experts on the CPU: `LoadSettings.n_cpu_moe`)."""

SWA_LOADABLE: dict[str, tuple[Shape, str]] = {
    "gemma-2-27b": (GEMMA2_27B, "Q4_K_M"),
    "gemma-3-12b": (GEMMA3_12B, "Q4_K_M"),
}
"""Sliding-window shapes (interleaved local and global attention layers)."""


# -- architectures with their own attention or state: MLA (DeepSeek V2) and LFM2 ------------


@dataclass(frozen=True)
class MlaShape:
    """A DeepSeek-V2-style model: multi-head latent attention, a dense lead, shared experts.

    Written as today's converter writes it (`convert_hf_to_gguf.py`, DeepseekV2Model): the
    latent as one "KV head" (key_length = kv_lora_rank + rope dims, value_length =
    kv_lora_rank) and the per-head sizes as key_length_mla / value_length_mla, with the
    decompression split into attn_k_b / attn_v_b.
    """

    name: str
    size_label: str
    n_layer: int
    n_embd: int
    n_ff: int  # the dense lead layers' feed-forward
    n_head: int
    n_vocab: int
    n_ctx_train: int
    kv_lora_rank: int
    qk_nope: int
    qk_rope: int
    v_head: int
    n_expert: int
    n_expert_used: int
    n_expert_shared: int
    n_ff_exp: int
    n_dense_lead: int


DEEPSEEK_V2_LITE = MlaShape(
    "DeepSeek V2 Lite Chat", "16B", 27, 2048, 10944, 16, 102400, 163840,
    kv_lora_rank=512, qk_nope=128, qk_rope=64, v_head=128,
    n_expert=64, n_expert_used=6, n_expert_shared=2, n_ff_exp=1408, n_dense_lead=1,
)  # fmt: skip
"""deepseek-ai/DeepSeek-V2-Lite-Chat's config.json (q_lora_rank null: no attn_q_a/q_b)."""


def _mla_tensors(s: MlaShape, main: Q, strong: Q) -> list[tuple[str, tuple[int, ...], Q]]:
    embd, heads = s.n_embd, s.n_head
    out: list[tuple[str, tuple[int, ...], Q]] = [("token_embd.weight", (embd, s.n_vocab), main)]
    for il in range(s.n_layer):
        p = f"blk.{il}."
        out += [
            (p + "attn_norm.weight", (embd,), Q.F32),
            (p + "attn_q.weight", (embd, heads * (s.qk_nope + s.qk_rope)), main),
            (p + "attn_kv_a_mqa.weight", (embd, s.kv_lora_rank + s.qk_rope), main),
            (p + "attn_kv_a_norm.weight", (s.kv_lora_rank,), Q.F32),
            (p + "attn_k_b.weight", (s.qk_nope, s.kv_lora_rank, heads), Q.Q8_0),
            (p + "attn_v_b.weight", (s.kv_lora_rank, s.v_head, heads), Q.Q8_0),
            (p + "attn_output.weight", (heads * s.v_head, embd), main),
            (p + "ffn_norm.weight", (embd,), Q.F32),
        ]
        if il < s.n_dense_lead:
            out += [
                (p + "ffn_gate.weight", (embd, s.n_ff), main),
                (p + "ffn_up.weight", (embd, s.n_ff), main),
                (p + "ffn_down.weight", (s.n_ff, embd), strong),
            ]
            continue
        e, ff, shared = s.n_expert, s.n_ff_exp, s.n_ff_exp * s.n_expert_shared
        out += [
            (p + "ffn_gate_inp.weight", (embd, e), Q.F32),
            (p + "ffn_gate_exps.weight", (embd, ff, e), main),
            (p + "ffn_up_exps.weight", (embd, ff, e), main),
            (p + "ffn_down_exps.weight", (ff, embd, e), strong),
            (p + "ffn_gate_shexp.weight", (embd, shared), main),
            (p + "ffn_up_shexp.weight", (embd, shared), main),
            (p + "ffn_down_shexp.weight", (shared, embd), strong),
        ]
    out += [("output_norm.weight", (embd,), Q.F32), ("output.weight", (embd, s.n_vocab), strong)]
    return [(name, dims, _fallback(dims, qtype)) for name, dims, qtype in out]


_FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}


def _fallback(dims: tuple[int, ...], qtype: Q) -> Q:
    """llama-quantize's type for rows that are not whole 256-blocks (10944, 1408 wide)."""
    return _FALLBACK.get(qtype, qtype) if dims[0] % 256 else qtype


def _mla_metadata(s: MlaShape, file_type: int) -> list[bytes]:
    a = "deepseek2"
    return [
        *_general_metadata(a, s, file_type),
        kv_u32(f"{a}.attention.head_count_kv", 1),
        kv_u32(f"{a}.attention.key_length", s.kv_lora_rank + s.qk_rope),
        kv_u32(f"{a}.attention.value_length", s.kv_lora_rank),
        kv_u32(f"{a}.attention.key_length_mla", s.qk_nope + s.qk_rope),
        kv_u32(f"{a}.attention.value_length_mla", s.v_head),
        kv_u32(f"{a}.attention.kv_lora_rank", s.kv_lora_rank),
        kv_f32(f"{a}.attention.layer_norm_rms_epsilon", 1e-6),
        kv_u32(f"{a}.rope.dimension_count", s.qk_rope),
        kv_f32(f"{a}.rope.freq_base", 10000.0),
        kv_u32(f"{a}.leading_dense_block_count", s.n_dense_lead),
        kv_u32(f"{a}.expert_count", s.n_expert),
        kv_u32(f"{a}.expert_used_count", s.n_expert_used),
        kv_u32(f"{a}.expert_shared_count", s.n_expert_shared),
        kv_u32(f"{a}.expert_feed_forward_length", s.n_ff_exp),
        kv_f32(f"{a}.expert_weights_scale", 1.0),
        kv_u32(f"{a}.vocab_size", s.n_vocab),
        *_spm_tokenizer(s.n_vocab),
    ]


@dataclass(frozen=True)
class Lfm2Shape:
    """An LFM2 model: short-convolution blocks with a few grouped-query attention blocks."""

    name: str
    size_label: str
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int
    n_ctx_train: int
    l_cache: int  # the short convolution's kernel (its state keeps l_cache - 1 columns)
    attention_layers: tuple[int, ...]
    n_layer: int


LFM2_12B = Lfm2Shape(
    "LFM2 1.2B", "1.2B", 2048, 8192, 32, 8, 65536, 128000, 3, (2, 5, 8, 10, 12, 14), 16
)
"""LiquidAI/LFM2-1.2B's config.json: 16 blocks, attention at full_attn_idxs, conv_L_cache 3,
feed-forward 12288 auto-adjusted to 8192 (as the converter writes it), tied embeddings."""


def _lfm2_tensors(s: Lfm2Shape, main: Q, strong: Q) -> list[tuple[str, tuple[int, ...], Q]]:
    embd, head_dim = s.n_embd, s.n_embd // s.n_head
    out: list[tuple[str, tuple[int, ...], Q]] = [("token_embd.weight", (embd, s.n_vocab), main)]
    for il in range(s.n_layer):
        p = f"blk.{il}."
        out += [
            (p + "attn_norm.weight", (embd,), Q.F32),
            (p + "ffn_norm.weight", (embd,), Q.F32),
            (p + "ffn_gate.weight", (embd, s.n_ff), main),
            (p + "ffn_up.weight", (embd, s.n_ff), main),
            (p + "ffn_down.weight", (s.n_ff, embd), strong),
        ]
        if il in s.attention_layers:
            kv = s.n_head_kv * head_dim
            out += [
                (p + "attn_q_norm.weight", (head_dim,), Q.F32),
                (p + "attn_k_norm.weight", (head_dim,), Q.F32),
                (p + "attn_q.weight", (embd, embd), main),
                (p + "attn_k.weight", (embd, kv), main),
                (p + "attn_v.weight", (embd, kv), strong),
                (p + "attn_output.weight", (embd, embd), main),
            ]
        else:
            out += [
                (p + "shortconv.conv.weight", (s.l_cache, embd), Q.F32),
                (p + "shortconv.in_proj.weight", (embd, 3 * embd), main),
                (p + "shortconv.out_proj.weight", (embd, embd), main),
            ]
    out.append(("token_embd_norm.weight", (embd,), Q.F32))  # LFM2's output norm
    return out


def _lfm2_metadata(s: Lfm2Shape, file_type: int) -> list[bytes]:
    a = "lfm2"
    kv_heads = [s.n_head_kv if il in s.attention_layers else 0 for il in range(s.n_layer)]
    return [
        *_general_metadata(a, s, file_type),
        kv_array(f"{a}.attention.head_count_kv", "i32", kv_heads),
        kv_f32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5),
        kv_f32(f"{a}.rope.freq_base", 1000000.0),
        kv_u32(f"{a}.shortconv.l_cache", s.l_cache),
        kv_u32(f"{a}.vocab_size", s.n_vocab),
        *_spm_tokenizer(s.n_vocab),
    ]


MLA_LOADABLE: dict[str, tuple[MlaShape, str]] = {"deepseek-v2-lite": (DEEPSEEK_V2_LITE, "Q4_K_M")}
"""Multi-head latent attention (the KV cache holds the compressed latent)."""

HYBRID_LOADABLE: dict[str, tuple[Lfm2Shape, str]] = {"lfm2-1.2b": (LFM2_12B, "Q4_K_M")}
"""Hybrid recurrent (short-convolution state in most blocks, a KV cache in the rest)."""


def write_loadable(folder: Path, keys: Iterable[str] = LOADABLE) -> dict[str, Path]:
    """Write the named loadable shapes (`LOADABLE` and kin) into ``folder`` for llama.cpp."""
    written = {}
    for key in keys:
        path = folder / f"{key}.gguf"
        if key in MLA_LOADABLE:
            mla, quant = MLA_LOADABLE[key]
            file_type, main, strong = QUANTS[quant]
            tensors = _mla_tensors(mla, main, strong)
            written[key] = _write(path, _mla_metadata(mla, file_type), tensors, 1.0)
            continue
        if key in HYBRID_LOADABLE:
            lfm2, quant = HYBRID_LOADABLE[key]
            file_type, main, strong = QUANTS[quant]
            tensors = _lfm2_tensors(lfm2, main, strong)
            written[key] = _write(path, _lfm2_metadata(lfm2, file_type), tensors, 1.0)
            continue
        shape, quant = {**LOADABLE, **MOE_LOADABLE, **SWA_LOADABLE}[key]
        path = folder / f"{key}-{quant}.gguf"
        written[key] = write_shaped(path, shape, quant, loadable=True)[0]
    return written
