"""Which device holds which layer, by the vendored llama.cpp's rule.

`i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)`: layer index n_layer is the
output layer and goes to the GPU first, then the last repeating blocks; the
input layer (token_embd) always stays on the CPU. With several GPUs the
offloaded layers are cut by the cumulative tensor split.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence


def layer_devices(n_layer: int, n_gpu_layers: int, split: Sequence[float]) -> list[int]:
    """Device of each layer 0..n_layer (the last is the output layer): -1 = CPU, else GPU index.

    ``split`` holds one weight per GPU (free memory, or the user's tensor split);
    an empty split means no GPU at all.
    """
    if not split:
        return [-1] * (n_layer + 1)
    total = float(sum(split)) or float(len(split))
    weights = [w / total for w in split] if sum(split) else [1.0 / len(split)] * len(split)
    points: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight
        points.append(running)
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act_gpu_layers = min(n_gpu_layers, n_layer + 1)
    devices = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or il - i_gpu_start >= act_gpu_layers:
            devices.append(-1)
        else:
            position = (il - i_gpu_start) / act_gpu_layers
            devices.append(min(bisect_right(points, position), len(split) - 1))
    return devices
