"""Predicted tokens/s for a memory plan: the speed model.

Generating one token reads every weight of every layer once (for MoE only the
active experts) plus the KV cache filled so far, on whichever device holds
them, and the devices take turns: the time per token is the sum, over devices,
of the bytes each reads over the rate it reads at, plus a small cost where the
work passes from one device to the next (the hidden state, ``n_embd`` floats,
crosses PCIe), plus a fixed cost per token. On the CPU two more costs count, both
measured by its probe: the attention's arithmetic, which grows with the cells a
token attends to and on a CPU is slower than reading them, and a cost per graph node
(the threads meet after each). Processing a prompt is arithmetic-
bound instead: its FLOPs over each device's throughput.

The CPU's rates are measured (`cpu_speed`, llama.cpp's own kernels); a GPU's
come from its published specs (`core.gpus.cards`) or NVML, scaled by how much
of the peak llama.cpp reaches (the constants below, with their sources).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from ..estimate.kv import padded_ctx
from ..estimate.plan import MemoryPlan
from ..gguf.model import ModelInfo
from ..gpus.cards import GpuInfo
from ..load_settings import LoadSettings
from .cpu_speed import CpuSpeed
from .work import LayerWork, ModelWork, model_work

PROMPT_TOKENS = 512
"""A prompt as llama-bench's pp512 (and `lmdesk bench`) measures it."""
GENERATED_TOKENS = 128
"""Tokens generated per measurement, as llama-bench's tg128."""

TOKEN_OVERHEAD_S = 0.6e-3
"""Fixed cost per generated token outside the graph's nodes: llama_decode's bookkeeping
(batch split, KV slot search, graph reuse check, reading the logits) and the Python around
the call. An assumption: llama.cpp's own `llama_perf_context` puts SmolLM2's eval at
~17 ms per token at an empty cache on one thread here, where its weights' bytes over the
probe's reading rate make 16.7 ms, so the rest is a fraction of a millisecond; it matters
only for tiny models. The per-node cost is measured (`CpuSpeed.step_s`)."""
GRAPH_NODES_PER_LAYER = 20
"""Nodes per repeating layer that llama.cpp's CPU backend runs (and its threads meet after):
its log numbers a Llama block's nodes 31 apart (FLASH_ATTN_EXT at node_21, node_52, ...
for SmolLM2), about a third of them views and reshapes it skips (ggml_op_is_empty)."""
FLASH_SPLIT_CELLS = 512
"""From this many cache cells on, llama.cpp's CPU flash attention shares one token's
attention out by cells (each thread a contiguous chunk of the cache, empty cells skipped)
instead of by heads (ggml-cpu/ops.cpp, ggml_compute_forward_flash_attn_ext_f16:
use_split_kv_path when nek1 >= 512)."""
KV_PAD_CELLS = 256
"""llama.cpp attends over the used cells rounded up to 256 (llama_kv_cache::get_n_kv)."""

GPU_BANDWIDTH_EFFICIENCY = 0.6
"""Share of a card's peak memory bandwidth llama.cpp's CUDA backend reaches while generating.
Source: llama.cpp's CUDA performance discussion (ggml-org/llama.cpp #4167): an RTX 4090
generates Llama 2 7B Q4_0 (3.56 GiB) at ~160 tokens/s, 0.6 TB/s of its 1.008 TB/s. To be
checked per card by bench/gpu_check.py when an NVIDIA machine is lent."""
GPU_COMPUTE_EFFICIENCY = 0.35
"""Share of the peak dense FP16 tensor throughput a prompt reaches. Source: the same
discussion: RTX 4090 pp512 of Llama 2 7B Q4_0 ~ 14,000 tokens/s = 14,000 x 2 x 6.7 G
= 94 TFLOPS of its 330 (0.28); quantized matmuls (MMQ, int8) run a little faster."""
GPU_RIDGE_FLOP_PER_BYTE = 100.0
"""For a card whose tensor throughput is unknown (NVML cannot tell it): FLOP/s taken as
bandwidth x 100, about the ridge point of recent NVIDIA cards (RTX 4090: 330 T / 1.0 T)."""
LINK_BYTES_PER_S = 25e9
"""PCIe 4.0 x16: 31.5 GB/s per direction on paper, ~25 GB/s in CUDA's bandwidthTest with
pinned memory; what crosses between the CPU's and a GPU's layers."""
LINK_LATENCY_S = 10e-6
"""One small synchronous copy between host and GPU (launch plus PCIe round trip), about
10 us in NVIDIA's nvbandwidth / bandwidthTest small-transfer figures; paid per boundary
per token while generating."""
OP_OFFLOAD_MIN_BATCH = 32
"""llama.cpp's CUDA backend runs a batch of at least 32 tokens on the GPU even for the
layers kept in RAM, copying their weights over PCIe (ggml-cuda.cu, offload_op)."""


@dataclass(frozen=True)
class Prediction:
    """Predicted tokens/s; a figure is None when a device's rates are unknown."""

    generation_tps: float | None
    prompt_tps: float | None
    cpu_only_generation_tps: float

    def as_dict(self) -> dict[str, float | None]:
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 2)

        return {
            "generation_tps": rounded(self.generation_tps),
            "prompt_tps": rounded(self.prompt_tps),
            "cpu_only_generation_tps": rounded(self.cpu_only_generation_tps),
        }


def bench_depth(n_ctx: int) -> int:
    """Cells a generated token attends to, on average, in a measurement like `lmdesk bench`'s:
    the prompt, then half the generated tokens (both capped by the context)."""
    prompt = bench_prompt_tokens(n_ctx)
    return min(n_ctx, prompt + GENERATED_TOKENS // 2)


def bench_prompt_tokens(n_ctx: int) -> int:
    """The measured prompt's length: 512 tokens, fewer when the context leaves less room
    than that plus the generated tokens."""
    return max(1, min(PROMPT_TOKENS, n_ctx - GENERATED_TOKENS))


def gpu_rates(gpu: GpuInfo) -> tuple[float, float] | None:
    """(bytes/s read while generating, FLOP/s while processing a prompt), or None if unknown."""
    if not gpu.memory_bandwidth:
        return None
    flops = gpu.fp16_flops or gpu.memory_bandwidth * GPU_RIDGE_FLOP_PER_BYTE
    return gpu.memory_bandwidth * GPU_BANDWIDTH_EFFICIENCY, flops * GPU_COMPUTE_EFFICIENCY


def _n_cpu_moe(plan: MemoryPlan, n_cpu_moe: int | None) -> int:
    if n_cpu_moe is not None:
        return n_cpu_moe
    return int(getattr(plan.settings, "n_cpu_moe", 0) or 0)  # the experts-on-CPU setting


def predict(
    model: ModelInfo,
    plan: MemoryPlan,
    cpu: CpuSpeed,
    gpus: Sequence[GpuInfo] = (),
    *,
    depth: int | None = None,
    prompt_tokens: int | None = None,
    n_cpu_moe: int | None = None,
) -> Prediction:
    """Tokens/s for `plan` (from `core.estimate.estimate`), `gpus` being its GPUs in order.

    ``depth`` is how many cached cells a generated token attends to (default: as
    `lmdesk bench` measures, `bench_depth`); ``n_cpu_moe`` keeps the experts of the first
    that many layers on the CPU (default: the plan's settings say); ``prompt_tokens`` is
    the prompt's length for ``prompt_tps`` (default: `bench_prompt_tokens`).
    """
    settings = plan.settings
    depth = bench_depth(settings.n_ctx) if depth is None else max(0, depth)
    prompt = prompt_tokens or bench_prompt_tokens(settings.n_ctx)
    moe_on_cpu = _n_cpu_moe(plan, n_cpu_moe)
    where = _placement(plan)
    work = model_work(model)
    rates = [gpu_rates(g) for g in gpus[: len(plan.gpus)]]
    known = len(rates) == len(plan.gpus) and all(r is not None for r in rates)
    kv_share = padded_ctx(depth) / padded_ctx(settings.n_ctx) if depth else 0.0
    kv = [device.kv_cache * kv_share for device in plan.devices]
    cpu_only = _generation_s(work.layers, {}, [], [0.0], cpu, 0)
    cpu_only += _cpu_attention_s(work, settings, cpu, depth, sum(kv), 1.0)
    cpu_only += _cpu_steps_s(work, model.n_layer, cpu)
    if not known or plan.refused:  # unknown rates, or llama.cpp would not load it at all
        return Prediction(None, None, 1.0 / cpu_only)
    gpu_rates_known = [r for r in rates if r is not None]
    generation = _generation_s(work.layers, where, gpu_rates_known, [0.0, *kv[1:]], cpu, moe_on_cpu)
    cpu_layers = sum(1 for il in range(model.n_layer) if il not in where)
    total_kv = sum(kv)
    on_cpu = kv[0] / total_kv if total_kv else cpu_layers / max(model.n_layer, 1)
    generation += _cpu_attention_s(work, settings, cpu, depth, kv[0], on_cpu)
    generation += _cpu_steps_s(work, cpu_layers, cpu)
    boundaries = _boundaries(where, model.n_layer)
    generation += boundaries * (LINK_LATENCY_S + model.n_embd * 4 / LINK_BYTES_PER_S)
    prompt_s = _prompt_s(
        model, where, gpu_rates_known, cpu, prompt, moe_on_cpu, settings.effective_n_ubatch
    )
    prompt_s += boundaries * (LINK_LATENCY_S + prompt * model.n_embd * 4 / LINK_BYTES_PER_S)
    return Prediction(1.0 / generation, prompt / prompt_s, 1.0 / cpu_only)


def _cpu_steps_s(work: ModelWork, cpu_layers: int, cpu: CpuSpeed) -> float:
    """The CPU backend's per-node cost for the layers it runs (its threads meet after each)."""
    return GRAPH_NODES_PER_LAYER * cpu_layers * cpu.step_s


def _cpu_attention_s(
    work: ModelWork,
    settings: LoadSettings,
    cpu: CpuSpeed,
    depth: int,
    kv_bytes: float,
    share: float,
) -> float:
    """Seconds of one generated token's attention on the CPU, over `depth` cached cells, for
    the `share` of the layers whose cache is in RAM (`kv_bytes` of it read).

    The arithmetic (the probe's rate for this head width, per query head and cell) and the
    cache's bytes over the reading rate overlap, so the slower one counts. With flash
    attention (on unless the settings turn it off: llama.cpp picks it on a CPU) the threads
    share the work out as llama.cpp does, and the busiest thread decides.
    """
    read = kv_bytes / cpu.read_bytes_per_s
    flash = settings.flash_attn is not False
    rate = cpu.attention_flash if flash else cpu.attention_plain
    if not rate or not depth or share <= 0:
        return read
    pairs = work.query_heads * share * depth
    threads = cpu.threads.generation
    imbalance = _flash_imbalance(work, settings, depth, threads) if flash else 1.0
    return max(read, pairs / rate * imbalance)


def _flash_imbalance(work: ModelWork, settings: LoadSettings, depth: int, threads: int) -> float:
    """The busiest thread's share of a layer's attention times the threads (1: even), from
    llama.cpp's partition (ggml-cpu/ops.cpp, ggml_compute_forward_flash_attn_ext_f16)."""
    if threads <= 1:
        return 1.0
    n_kv = min(padded_ctx(settings.n_ctx), max(KV_PAD_CELLS, _round_up(depth + 1, KV_PAD_CELLS)))
    if n_kv >= FLASH_SPLIT_CELLS:  # by cells: thread i takes cells [i*chunk, (i+1)*chunk)
        chunk = -(-n_kv // threads)
        return threads * min(chunk, depth) / depth
    rows = max(1, work.widest_layer_heads)  # by heads, in chunks of ~rows / (4 x threads)
    size = -(-rows // (4 * threads))
    chunks = -(-rows // size)
    if chunks < threads:  # too few chunks: llama.cpp gives each thread one even share
        return threads * -(-rows // threads) / rows
    sizes = [min(size, rows - i * size) for i in range(chunks)]  # taken in turn
    busiest = max(sum(sizes[i::threads]) for i in range(threads))
    return threads * busiest / rows


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def _placement(plan: MemoryPlan) -> dict[int, int]:
    """GPU index per layer it holds (0..n_layer, n_layer = output); absent: on the CPU."""
    return {layer: i for i, device in enumerate(plan.gpus) for layer in device.layers}


def _boundaries(where: dict[int, int], n_layer: int) -> int:
    """Device changes along a token's way: input (CPU), the blocks, the output layer."""
    path = [-1] + [where.get(il, -1) for il in range(n_layer + 1)]
    return sum(1 for a, b in itertools.pairwise(path) if a != b)


def _generation_s(
    layers: dict[int, LayerWork],
    where: dict[int, int],
    gpus: list[tuple[float, float]],
    kv: list[float],
    cpu: CpuSpeed,
    moe_on_cpu: int,
) -> float:
    """Seconds per generated token: bytes per device over its reading rate, plus the fixed cost.

    ``kv`` is the KV bytes read per token per device (the CPU first, as in the plan).
    """
    read = [kv[0]] + [0.0] * len(gpus)  # the CPU's KV: see _cpu_attention_s
    for il, layer in layers.items():
        device = where.get(il, -1) + 1
        read[device] += layer.dense_bytes
        read[0 if il < moe_on_cpu else device] += layer.expert_bytes
    for i in range(len(gpus)):
        read[i + 1] += kv[i + 1] if i + 1 < len(kv) else 0.0
    seconds = read[0] / cpu.read_rate(read[0])
    seconds += sum(read[i + 1] / rate for i, (rate, _) in enumerate(gpus))
    return seconds + TOKEN_OVERHEAD_S


def _expert_factor(model: ModelInfo) -> float:
    """All experts' bytes over the active ones' (1 for a dense model)."""
    return model.n_expert / model.n_expert_used if model.n_expert and model.n_expert_used else 1.0


def _prompt_s(
    model: ModelInfo,
    where: dict[int, int],
    gpus: list[tuple[float, float]],
    cpu: CpuSpeed,
    prompt: int,
    moe_on_cpu: int,
    ubatch: int,
) -> float:
    """Seconds to process a `prompt`-token prompt from an empty cache.

    Every token multiplies through each block's matrices (2 FLOP per multiply-add) and
    attends to the tokens before it (on average half the prompt); only the last token
    goes through the output layer. With a GPU, llama.cpp runs the RAM layers' matrices on
    the GPU too, after copying their weights over PCIe once per micro-batch. The CPU reads
    the weights it multiplies from RAM once per micro-batch too, besides the arithmetic
    (the probe times the arithmetic on weights in cache). Checked on the 3B shape here:
    a 64- and a 256-token prompt took 2.02 s and 7.31 s on one thread, 27.6 ms a token
    plus 0.25 s a micro-batch, and its 2.0 GB over the probe's reading rate are 0.29 s.
    """
    work = model_work(model)
    attention = 2.0 * work.attention_macs_per_cell * prompt / 2 / max(model.n_layer, 1)
    flops = [0.0] * (len(gpus) + 1)
    upload = cpu_read = 0.0
    for il, layer in work.layers.items():
        tokens = 1 if il == model.n_layer else prompt
        per_token = 2.0 * (layer.dense_macs + layer.expert_macs)
        if il < model.n_layer:
            per_token += attention
        device = where.get(il, -1) + 1
        on_cpu = device == 0 or il < moe_on_cpu
        passes = -(-tokens // ubatch)
        all_experts = layer.expert_bytes * (_expert_factor(model) if tokens > 1 else 1.0)
        if on_cpu and gpus and tokens >= OP_OFFLOAD_MIN_BATCH:
            upload += passes * (layer.dense_bytes + all_experts)  # every expert is copied
            device = 1  # computed on the (first) GPU
        elif device == 0:
            cpu_read += passes * (layer.dense_bytes + all_experts)
        flops[device] += per_token * tokens
    seconds = flops[0] / cpu.flops + upload / LINK_BYTES_PER_S
    per_pass = cpu_read / max(1, -(-prompt // ubatch))  # the weights one micro-batch reads
    seconds += cpu_read / cpu.read_rate(per_pass)
    seconds += sum(flops[i + 1] / rate for i, (_, rate) in enumerate(gpus))
    return seconds
