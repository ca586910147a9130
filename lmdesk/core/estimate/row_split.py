"""Split mode "row": each offloaded layer's matrices cut by rows over the GPUs.

What the bundled llama.cpp does (llama-cpp-python 0.3.36, `src/llama-model.cpp`
`make_gpu_buft_list` and `load_tensors`): the layers are still given to devices by the
tensor split, exactly as with split mode "layer", so a layer's KV cache, its norms and
biases and its share of the compute buffer stay on that layer's device. What changes is
the weights' buffer type: a device whose backend offers a *split buffer type*
(``ggml_backend_split_buffer_type``) puts every matrix a ``MUL_MAT`` reads into it, and
that buffer cuts the matrix's rows over all devices in proportion to the tensor split
(`get_row_split`: device i holds rows ``nrows*split[i]`` up to ``nrows*split[i+1]``), each
slice padded to 512 elements per row when the row is not a multiple of it. Experts (3-D,
read by ``MUL_MAT_ID``) and the input layer are never split.

In this llama.cpp only SYCL (Intel) and Hexagon offer split buffers. CUDA dropped its
split buffer for the new "tensor" mode, and RPC and the CPU never had one: with any such
device in the list, ``load_tensors`` throws "device CUDA0 does not support split buffers"
and nothing loads (ggml-org/llama.cpp#27465). With no GPU device at all (a CPU-only
build) the split mode is never consulted. `ROW_REFUSED` says so in words.

The per-device row rounding of the split buffers (64 to 256 rows for quantized types,
by device generation) is left out: it moves at most one rounding step of rows per matrix
between neighbours.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from ..gguf.model import ModelInfo
from .weights import INPUT, model_weights, padded, tensor_layer

MATRIX_ROW_PADDING = 512
"""Elements a split slice's last row is padded to (ggml-sycl / the old ggml-cuda)."""

ROW_REFUSED = (
    "split by row needs llama.cpp's split buffers, which its CUDA and RPC devices do not "
    "have in this version (llama-cpp-python 0.3.36): llama.cpp refuses to load "
    '("does not support split buffers"). Split by layer instead'
)


@dataclass(frozen=True)
class Matrix:
    """A weight a ``MUL_MAT`` reads: rows, the bytes of one row, and its padded tail."""

    rows: int
    row_bytes: int
    pad_bytes: int  # added to each device's slice when the row is not a multiple of 512
    gpu_bytes: int  # the whole matrix in a plain GPU buffer (aligned)


_MATRICES: WeakKeyDictionary[ModelInfo, dict[int, list[Matrix]]] = WeakKeyDictionary()


def layer_matrices(model: ModelInfo, gpu_alignment: int) -> dict[int, list[Matrix]]:
    """Per layer (0..n_layer, n_layer = output), the matrices a row split cuts; cached."""
    if model in _MATRICES:
        return _MATRICES[model]
    out: dict[int, list[Matrix]] = {}
    for tensor in model_weights(model):
        if len(tensor.shape) != 2:
            continue  # norms and biases (1-D), stacked experts (3-D, MUL_MAT_ID)
        layer = tensor_layer(tensor, model.n_layer)
        if layer == INPUT:
            continue  # token_embd is read by row lookup, on the CPU
        ne0, rows = tensor.shape
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(tensor.ggml_type)]
        row_bytes = ne0 // block * type_size
        quantized = block > 1
        tail = MATRIX_ROW_PADDING - ne0 % MATRIX_ROW_PADDING
        pad = tail // block * type_size if quantized and ne0 % MATRIX_ROW_PADDING else 0
        out.setdefault(layer, []).append(
            Matrix(rows, row_bytes, pad, padded(tensor.n_bytes, gpu_alignment))
        )
    _MATRICES[model] = out
    return out


def row_slices(rows: int, split: Sequence[float]) -> list[int]:
    """Rows each device holds: cumulative shares of ``rows``, the last takes the rest."""
    total = float(sum(split)) or float(len(split))
    shares = [w / total for w in split] if sum(split) else [1.0 / len(split)] * len(split)
    bounds = [0]
    running = 0.0
    for share in shares[:-1]:
        running += share
        bounds.append(int(rows * running))
    bounds.append(rows)
    return [high - low for low, high in itertools.pairwise(bounds)]


LayerSplit = tuple[list[int], int]
"""A layer's matrices in row mode: bytes on each GPU, and their size whole on one GPU."""
_SPLITS: WeakKeyDictionary[ModelInfo, dict[tuple[float, ...], dict[int, LayerSplit]]] = (
    WeakKeyDictionary()
)
_KEEP = 8  # splits remembered per model (the panel's follows free memory)


def split_layers(
    model: ModelInfo, split: Sequence[float], gpu_alignment: int
) -> dict[int, LayerSplit]:
    """`split_layer` for every layer of the model, cached per split: a slider tick in row
    mode then adds a few numbers per layer instead of cutting every matrix again."""
    per_model = _SPLITS.setdefault(model, {})
    key = tuple(split)
    if key not in per_model:
        if len(per_model) >= _KEEP:
            per_model.pop(next(iter(per_model)))
        matrices = layer_matrices(model, gpu_alignment)
        per_model[key] = {layer: split_layer(m, key) for layer, m in matrices.items()}
    return per_model[key]


def split_layer(matrices: Sequence[Matrix], split: Sequence[float]) -> LayerSplit:
    """Bytes of the layer's matrices on each device, and their size in a plain GPU buffer
    (what the layer's own device no longer holds)."""
    per_device = [0] * len(split)
    for matrix in matrices:
        for device, rows in enumerate(row_slices(matrix.rows, split)):
            if rows:
                per_device[device] += rows * matrix.row_bytes + matrix.pad_bytes
    return per_device, sum(m.gpu_bytes for m in matrices)
