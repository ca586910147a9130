"""Memory plans: what a model needs on each device, and how much of it fits a GPU."""

from .cpu_buffers import (
    NO_EXTRA_BUFFERS,
    CpuFeatures,
    engine_cpu_features,
    extra_buffers_allowed,
    host_cpu_features,
)
from .estimator import CUDA_OVERHEAD, EstimateError, GpuTarget, check_main_gpu, estimate
from .fit import DEFAULT_MARGIN, FitResult, fit
from .model_verdict import APPROX, TOO_LARGE, FitInputs, FitWords
from .plan import CPU, DevicePlan, MemoryPlan
from .remote import RemoteDevice, remote_devices
from .verdict import Fit, Verdict, judge

__all__ = [
    "APPROX",
    "CPU",
    "CUDA_OVERHEAD",
    "DEFAULT_MARGIN",
    "NO_EXTRA_BUFFERS",
    "TOO_LARGE",
    "CpuFeatures",
    "DevicePlan",
    "EstimateError",
    "Fit",
    "FitInputs",
    "FitResult",
    "FitWords",
    "GpuTarget",
    "MemoryPlan",
    "RemoteDevice",
    "Verdict",
    "check_main_gpu",
    "engine_cpu_features",
    "estimate",
    "extra_buffers_allowed",
    "fit",
    "host_cpu_features",
    "judge",
    "remote_devices",
]
