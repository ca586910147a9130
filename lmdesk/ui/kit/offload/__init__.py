"""The GPU offload (Load) panel: how much of a model the GPU can take, before loading it.

GPU readings arrive through `lmdesk.ui.services.gpu_feed.GpuFeed`: connect its
`sig_probe` to `OffloadPanel.set_gpus`.
"""

from lmdesk.ui.kit.offload.memory_bar import MemoryBar
from lmdesk.ui.kit.offload.panel import OffloadPanel

__all__ = ["MemoryBar", "OffloadPanel"]
