"""Model weights per device: mmap windows on the CPU, padded copies on GPUs, CPU repacks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..expert_tensors import expert_layer
from ..gguf.header import TensorInfo
from ..gguf.model import OUTPUT_TENSORS, ModelInfo, block_index
from .cpu_buffers import CpuFeatures

INPUT = -2  # pseudo layer index of token_embd and other input tensors
# Output-layer tensors under other names (llama-arch.cpp): LFM2's output norm is stored as
# "token_embd_norm" (LLM_TENSOR_OUTPUT_NORM_LFM2, LLM_TENSOR_LAYER_OUTPUT).
_OUTPUT_BY_ARCH = {"lfm2": ("token_embd_norm.weight",), "lfm2moe": ("token_embd_norm.weight",)}


def tensor_layer(tensor: TensorInfo, n_layer: int, architecture: str = "") -> int:
    """Block index of a tensor; n_layer for the output layer, INPUT for the input layer."""
    il = block_index(tensor.name)
    if il is not None:
        return il
    if tensor.name in OUTPUT_TENSORS or tensor.name in _OUTPUT_BY_ARCH.get(architecture, ()):
        return n_layer
    return INPUT


def padded(n_bytes: int, alignment: int) -> int:
    return -(-n_bytes // alignment) * alignment


@dataclass(frozen=True)
class LayerWeights:
    """One layer's weights as each kind of device would hold them."""

    gpu: int  # padded copies in a GPU buffer
    repack: int  # copies in the CPU's AMX / CPU_REPACK buffers
    cpu: int  # padded copies in a plain CPU buffer (no mmap)
    windows: dict[int, tuple[int, int]]  # per split file: mmap window (first, last)


@dataclass(frozen=True)
class WeightsIndex:
    """Per layer index (INPUT, 0..n_layer-1, n_layer = output): the weights each device holds.

    ``layers`` holds everything but the experts; ``experts`` a MoE layer's expert tensors,
    which may stay in system RAM while the rest of their layer is on a GPU (``n_cpu_moe``).
    """

    layers: dict[int, LayerWeights]
    experts: dict[int, LayerWeights]
    overridden: dict[int, LayerWeights]
    """The experts as an override to the CPU buffer type places them: in the plain (mapped)
    CPU buffer, never repacked (measured on this llama.cpp, whatever the layer's device)."""


def layer_weights(
    model: ModelInfo, cpu: CpuFeatures, gpu_alignment: int, cpu_alignment: int
) -> WeightsIndex:
    """The weights of each layer, apart and with its experts apart.

    Computed once per model and cached by the caller; estimates then add up
    about n_layer + 2 entries instead of walking every tensor.
    """
    groups: dict[tuple[int, bool], list[TensorInfo]] = {}
    for tensor in model_weights(model):
        layer = tensor_layer(tensor, model.n_layer, model.architecture)
        key = (layer, expert_layer(tensor.name) is not None)
        groups.setdefault(key, []).append(tensor)
    index = WeightsIndex({}, {}, {})
    for (layer, experts), tensors in groups.items():
        target = index.experts if experts else index.layers
        target[layer] = _weights_of(model, tensors, cpu, gpu_alignment, cpu_alignment)
        if experts:
            plain = CpuFeatures()  # no extra buffer types
            index.overridden[layer] = _weights_of(
                model, tensors, plain, gpu_alignment, cpu_alignment
            )
    return index


def _weights_of(
    model: ModelInfo,
    tensors: list[TensorInfo],
    cpu: CpuFeatures,
    gpu_alignment: int,
    cpu_alignment: int,
) -> LayerWeights:
    windows: dict[int, tuple[int, int]] = {}
    repack = plain = 0
    for tensor in tensors:
        extra = cpu.extra_bytes(tensor)
        if extra:
            repack += extra
        elif not is_tied_copy(tensor, model):  # a tied output reads token_embd in place
            plain += padded(tensor.n_bytes, cpu_alignment)
            merge_window(windows, tensor.split, tensor.offset, tensor.offset + tensor.n_bytes)
    return LayerWeights(
        gpu=sum(padded(t.n_bytes, gpu_alignment) for t in tensors),
        repack=repack,
        cpu=plain,
        windows=windows,
    )


def merge_window(windows: dict[int, tuple[int, int]], split: int, first: int, last: int) -> None:
    old = windows.get(split)
    windows[split] = (first, last) if old is None else (min(old[0], first), max(old[1], last))


def mapped_bytes(layers: Iterable[LayerWeights]) -> int:
    """Size of the mmap windows llama.cpp maps for these layers: first offset to last end.

    Tensors of other devices that lie in between are inside the window too, as in
    llama.cpp's get_mapping_range. Split files each get their own window.
    """
    windows: dict[int, tuple[int, int]] = {}
    for layer in layers:
        for split, (first, last) in layer.windows.items():
            merge_window(windows, split, first, last)
    return sum(last - first for first, last in windows.values())


def model_weights(model: ModelInfo) -> list[TensorInfo]:
    """The tensors llama.cpp creates: the file's, plus token_embd again as a tied output."""
    tensors = list(model.tensors)
    embd = model.token_embd
    if model.tied_embeddings and embd is not None:
        tensors.append(replace(embd, name="output.weight"))
    return tensors


def is_tied_copy(tensor: TensorInfo, model: ModelInfo) -> bool:
    return model.tied_embeddings and tensor.name == "output.weight"
