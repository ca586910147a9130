"""lmdesk: run large language models locally, sized to your GPU before you download."""

import os

__version__ = "0.1.0"

# CUDA numbers GPUs fastest first unless told otherwise; NVML (which lmdesk plans with) and
# nvidia-smi number them by PCI bus. Set before llama.cpp starts CUDA in this process (or
# in any child it starts), so "GPU 1" is the same card to the plan and to llama.cpp.
os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
