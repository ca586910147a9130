"""Compute buffers: the peak of llama.cpp's graph allocator for the worst-case batch.

llama.cpp reserves its compute buffer by allocating a prompt-processing graph
of n_ubatch tokens against the whole KV cache; the allocator reuses a tensor's
memory once its last consumer has run. The peak falls in one of three phases
of that graph, and each is modelled by the tensors alive in it (measured on
this llama.cpp with models of many shapes, see tests/test_estimate_accuracy.py):

- attention: the scores of every head against every cell (not materialised
  with flash attention), the mask, and a handful of activations;
- feed-forward: the gate, up and product rows of n_ff;
- output: the logits of every token of the micro-batch;
- experts on the CPU (``n_cpu_moe``) while their layer is on a GPU: the CPU runs the
  experts' matrix products for the batch, a phase of its own whatever the context.
  Calibrated, not derived: 4/3 of the gate and down rows of the used experts plus six
  activation rows (without flash attention; one row less with it) matches llama.cpp's CPU
  compute buffer on Qwen3-30B-A3B and gpt-oss-20b shapes to about 1 % and 3 %; a
  CPU that runs whole MoE blocks (partial offload) needs 2.5 activation rows more.

Pipeline parallelism: with every layer on two or more GPUs (layer split, KV offloaded, no
tensor overrides) llama.cpp's scheduler keeps ``PIPELINE_COPIES`` copies of each device's
graph inputs (``llama-context.cpp``: ``pipeline_parallel``; "sched copies = 4" in its log).
Measured over two RPC devices on SmolLM2 and the Qwen2.5 0.5B shape: the CPU holds the mask,
one activation row and (without flash attention) the new K/V rows once per copy; a device
without the output layer gains three more copies of the mask and two activation rows; the
device with the output layer keeps the same inputs as the CPU, four times, beside its logits.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..gguf.model import ModelInfo
from ..load_settings import KV_CACHE_TYPES, LoadSettings
from .kv import padded_ctx
from .layer_kinds import expert_rows, is_mla

F32 = 4
F16 = 2
# MLA (DeepSeek V2) on the CPU alone, calibrated on the DeepSeek-V2-Lite shape: llama.cpp's
# allocator puts the logits above the used experts' up and down rows of the last block, except
# with flash attention over at most about 3,072 cells (measured: 3,072 not, 4,096 above).
_MLA_FLASH_CELLS = 3072
PIPELINE_COPIES = 4  # GGML_SCHED_MAX_COPIES: the scheduler's graph copies when pipelining
# Blocks with norms after attention and after the feed-forward (measured on the CPU side of
# a partial offload of Gemma 2 27B / Gemma 3 12B shapes: two activation rows more).
_POST_NORM_ARCHS = frozenset({"gemma2", "gemma3"})


@dataclass(frozen=True)
class GraphPeaks:
    """Peak bytes of each phase of the worst-case graph."""

    attention: int
    feed_forward: int
    logits: int  # the logits tensor alone
    embd: int  # one row of activations per token
    mask: int
    kv_rows: int  # the new K and V rows of the batch
    flash: bool
    experts: int = 0  # the CPU's phase when it runs a GPU layer's experts (MoE only)
    post_norm_rows: int = 0  # Gemma's post-attention / post-FFN norms keep two rows more
    beside_logits: int = 0  # MLA on the CPU alone: the logits above the last MoE block's rows
    copies: int = 1  # graph copies: PIPELINE_COPIES when the layers are pipelined over GPUs
    v_quantized: bool = False  # the V cache is quantized (q8_0, q4_0, ...)

    @property
    def _inputs(self) -> int:
        """A device's inputs from the CPU: the mask, one activation row, K/V rows (no flash)."""
        return self.mask + self.embd + (0 if self.flash else self.kv_rows)

    @property
    def cpu_only(self) -> int:
        """The whole graph on the CPU."""
        return max(
            self.attention, self.feed_forward, self.logits + 3 * self.embd, self.beside_logits
        )

    @property
    def gpu(self) -> int:
        """The device that runs the offloaded layers (and the big batched matmuls)."""
        extra = self.copies - 1
        blocks = max(self.attention, self.feed_forward) + extra * (self.mask + 2 * self.embd)
        inputs = self.copies * self._inputs if extra else 0  # all copies, beside the logits
        logits = self.logits + self.embd + inputs
        return max(blocks, logits)

    @property
    def gpu_blocks_only(self) -> int:
        """A device with repeating blocks but not the output layer (one of several, the
        output on a later one): no logits; measured over two llama.cpp RPC workers."""
        pipelined = (self.copies - 1) * (self.mask + 2 * self.embd)
        return max(self.attention, self.feed_forward - self.embd) - self.embd + pipelined

    @property
    def gpu_output_only(self) -> int:
        """A device with the output layer and no repeating block: attention stays elsewhere.

        The logits phase, or the feed-forward rows when CUDA takes the CPU layers'
        big matmuls (llama.cpp offloads a weight's matmul for batches of 32 or more).
        """
        return max(self.feed_forward, self.logits + self.embd)

    @property
    def cpu_with_partial_offload(self) -> int:
        """The CPU's layers still run attention and feed-forward; the logits are elsewhere.

        With flash attention and a quantized V cache the feed-forward phase keeps one row
        less (SmolLM2 split at f16 / q8_0 / q4_0 V, the Qwen2.5 0.5B, Llama 3.2 3B and LFM2
        1.2B shapes: within 0.3 %); Gemma's blocks keep one row less with any V (the Gemma 3
        12B shape at f16 V: +4.0 % at 2,048 tokens, -0.7 % at 8,192).
        """
        feed_forward = self.feed_forward
        if self.flash and (self.v_quantized or self.post_norm_rows):
            feed_forward -= self.embd
        return max(self.attention, feed_forward) + self.post_norm_rows

    @property
    def experts_with_router(self) -> int:
        """A MoE block run whole on the CPU, router and norms included (calibrated likewise)."""
        return self.experts + 5 * self.embd // 2 if self.experts else 0

    @property
    def cpu_with_full_offload(self) -> int:
        """Only inputs stay on the CPU: token rows, positions, the mask (and K/V rows)."""
        return self.copies * self._inputs + self.embd


def pipelined(model: ModelInfo, settings: LoadSettings, n_gpus: int) -> bool:
    """Does llama.cpp pipeline this load over its GPUs (and keep PIPELINE_COPIES graphs)?"""
    return (
        n_gpus > 1
        and settings.split_mode == "layer"  # "row" and "none" never pipeline
        and settings.gpu_layers_for(model.n_layer) > model.n_layer
        and settings.offload_kqv
        and settings.n_cpu_moe == 0
    )


def graph_peaks(model: ModelInfo, settings: LoadSettings, n_gpus: int = 0) -> GraphPeaks:
    """Peaks of the prompt-processing graph of n_ubatch tokens over the whole cache."""
    n = settings.effective_n_ubatch
    n_kv = padded_ctx(settings.n_ctx)
    n_head = max(model.n_head, default=1)
    k_gqa = max((model.n_embd_k_gqa(il) for il in range(model.n_layer)), default=0)
    v_gqa = max((model.n_embd_v_gqa(il) for il in range(model.n_layer)), default=0)
    flash = settings.flash_attn is not False  # None: llama.cpp's auto turns it on

    embd = model.n_embd * n * F32
    ffn = model.n_ff * n * F32
    mla = is_mla(model)
    if flash:
        mask = n_kv * n * F16
        attention = mask + 8 * embd
        feed_forward = 3 * ffn + mask + 4 * embd
    else:
        mask = n_kv * n * F32
        scores = n_kv * n * n_head * F32
        attention = scores + mask + 5 * embd + (k_gqa + v_gqa) * n * F32
        if mla:  # V (a view of the latent K) made contiguous, the latent query and output
            attention += n_kv * v_gqa * F16 + (k_gqa + v_gqa) * n_head * n * F32
        feed_forward = 3 * ffn + mask + 5 * embd
    kv_rows = (k_gqa + v_gqa) * n * F32
    experts = 0
    if model.n_expert:
        used = max(model.n_expert_used, 1)
        rows = model.n_ff * n * F32 + model.n_embd * used * n * F32  # gate rows + down rows
        experts = (4 * rows + 18 * embd) // 3 - (embd if flash else 0)
    logits = model.n_vocab * n * F32
    post_norms = 2 * embd if model.architecture in _POST_NORM_ARCHS else 0
    beside_logits = 0
    if mla and (not flash or n_kv > _MLA_FLASH_CELLS):
        rows = (expert_rows(model) + model.n_embd) * max(model.n_expert_used, 1)
        beside_logits = model.n_vocab * n * F32 + rows * n * F32
    return GraphPeaks(
        attention,
        feed_forward,
        logits,
        embd,
        mask,
        kv_rows,
        flash,
        experts,
        post_norms,
        beside_logits,
        PIPELINE_COPIES if pipelined(model, settings, n_gpus) else 1,
        KV_CACHE_TYPES[settings.type_v].block_size > 1,
    )
