"""What one token costs, per layer: the weight bytes it reads and the arithmetic it does.

Derived from the header's tensors once per model. For a mixture-of-experts
model a token runs only ``n_expert_used`` of the ``n_expert`` experts, so the
expert tensors (``*_exps``) count that share of their bytes and multiply-adds;
shared experts (``*_shexp``) and everything else count whole.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from ..estimate.weights import INPUT, tensor_layer
from ..gguf.header import TensorInfo
from ..gguf.model import ModelInfo


@dataclass(frozen=True)
class LayerWork:
    """One layer's per-token cost; experts apart, so they can be placed apart."""

    dense_bytes: float
    expert_bytes: float
    dense_macs: float
    """Multiply-adds of the dense matrices per token (2 FLOP each)."""
    expert_macs: float


@dataclass(frozen=True)
class ModelWork:
    layers: dict[int, LayerWork]
    """Per layer index (0..n_layer-1, n_layer = the output layer); the input layer
    (a row lookup in token_embd) costs next to nothing and is left out."""
    attention_macs_per_cell: float
    """Multiply-adds per token, per cached cell it attends to, over all layers (QK and AV)."""
    main_type: int
    """The ggml type most matrix bytes are in: the one the CPU probe measures."""
    head_dim: int = 0
    """Width of a key head: the attention the CPU probe measures."""
    query_heads: int = 0
    """Query heads over all layers: one generated token's attention is this many heads
    times the cells it attends to."""
    widest_layer_heads: int = 0
    """Query heads of the widest layer (how llama.cpp shares a layer's attention out)."""


_CACHE: WeakKeyDictionary[ModelInfo, ModelWork] = WeakKeyDictionary()


def _is_expert(tensor: TensorInfo) -> bool:
    return "_exps." in tensor.name


def model_work(model: ModelInfo) -> ModelWork:
    """The model's per-token cost, computed once per model (an identity-keyed cache)."""
    cached = _CACHE.get(model)
    if cached is not None:
        return cached
    share = model.n_expert_used / model.n_expert if model.n_expert else 1.0
    sums: dict[int, list[float]] = {}
    types: Counter[int] = Counter()
    for tensor in model.tensors:
        layer = tensor_layer(tensor, model.n_layer)
        if layer == INPUT:
            continue
        row = sums.setdefault(layer, [0.0, 0.0, 0.0, 0.0])
        matrix = len(tensor.shape) >= 2
        if _is_expert(tensor):
            row[1] += tensor.n_bytes * share
            row[3] += tensor.n_elements * share if matrix else 0.0
        else:
            row[0] += tensor.n_bytes
            row[2] += tensor.n_elements if matrix else 0.0
        if matrix:
            types[tensor.ggml_type] += tensor.n_bytes
    if model.tied_embeddings and model.token_embd is not None:
        embd = model.token_embd  # the output layer reads token_embd whole, every token
        row = sums.setdefault(model.n_layer, [0.0, 0.0, 0.0, 0.0])
        row[0] += embd.n_bytes
        row[2] += embd.n_elements
    layers = {il: LayerWork(*values) for il, values in sums.items()}
    attention = sum(
        model.n_head[il] * (model.head_dim_k + model.head_dim_v) for il in range(model.n_layer)
    )
    main_type = types.most_common(1)[0][0] if types else 0
    heads = [model.n_head[il] for il in range(model.n_layer)]
    work = ModelWork(
        layers=layers,
        attention_macs_per_cell=float(attention),
        main_type=main_type,
        head_dim=model.head_dim_k,
        query_heads=sum(heads),
        widest_layer_heads=max(heads, default=0),
    )
    _CACHE[model] = work
    return work
