"""Will this model run here? The verdict in words, for Discover, My Models and the CLI.

Arithmetic over a parsed header (a few estimates, milliseconds), with the load rule of
`core.load_plan` and the card's `usable_bytes`: the numbers the Load panel uses. When the header
is not known (not fetched yet, or the hub refused it), a rougher verdict is made from the
file size alone and says so ("≈ from file size").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..gguf.model import ModelInfo
from ..gpus.cards import GpuInfo
from ..load_plan import default_load_settings
from ..load_settings import LoadSettings
from ..settings import LoadDefaults
from ..units import MiB, format_size
from .architectures import approximate_for
from .estimator import CUDA_OVERHEAD
from .projector import ProjectorInfo, fit_with_projector, plan_with_projector
from .verdict import Fit

APPROX = "≈ from file size"
TOO_LARGE = "Too large for this machine's RAM"
# Beyond the weights, a typical load adds a KV cache and compute buffers; a guess used only
# for the size-based verdict (4k context on a 7-8B model is about this much).
SIZE_EXTRA = 768 * MiB


@dataclass(frozen=True)
class FitWords:
    """A verdict to show: `kind` is a `Fit` value (the colour), `text` the words."""

    kind: str
    text: str
    detail: str
    approximate: bool = False


@dataclass(frozen=True)
class FitInputs:
    """What a verdict depends on besides the model: the card, the load defaults, the RAM.

    `gpu` None means the CPU alone. A snapshot, so a worker thread can use it safely.
    """

    gpu: GpuInfo | None
    defaults: LoadDefaults
    margin: int
    ram_total: int

    def load_for(self, model: ModelInfo) -> LoadSettings:
        """The default load settings, with the context capped at what the model was trained for."""
        return default_load_settings(self.defaults, n_ctx_train=model.n_ctx_train)

    def words(self, model: ModelInfo, projector: ProjectorInfo | None = None) -> FitWords:
        """The verdict computed from the header, as the Load panel computes it, with the
        vision projector the model is loaded with (None: none); marked approximate for an
        architecture the estimate does not model exactly, and "≈ from file size" while the
        projector is known by its size alone (`ProjectorInfo.from_size`)."""
        words = self._words(model, projector)
        if projector is not None and projector.approximate:
            note = "The vision projector is counted by its file size until its header is read."
            text = f"{words.text} ({APPROX})" if APPROX not in words.text else words.text
            words = replace(words, text=text, detail=f"{words.detail} {note}", approximate=True)
        reason = approximate_for(model)
        if not reason:
            return words
        note = f"{reason[0].upper()}{reason[1:]}."
        # not `approximate=True`: that means "from the file size, the header is on its way"
        return replace(words, text=f"{words.text} (≈)", detail=f"{words.detail} {note}")

    def _words(self, model: ModelInfo, projector: ProjectorInfo | None) -> FitWords:
        load = self.load_for(model)
        ctx = f"at {load.n_ctx:,} tokens of context"
        if projector is not None:
            ctx += f", with its vision projector ({format_size(projector.file_bytes)})"
        if self.gpu is None:
            plan = plan_with_projector(model, load.with_changes(n_gpu_layers=0), [], projector)
            if plan.cpu.total > self.ram_total:
                return self._too_large(plan.cpu.total)
            detail = f"No GPU chosen: {format_size(plan.cpu.total)} of system RAM {ctx}."
            return FitWords(Fit.CPU_ONLY.value, "CPU only", detail)
        result = fit_with_projector(
            model,
            load,
            projector,
            gpu_free=self.gpu.usable_bytes,
            margin=self.margin,
            gpu_name=self.gpu.name,
        )
        ram = result.plan.cpu.total
        if ram > self.ram_total:
            return self._too_large(ram)
        layers, total = result.n_gpu_layers, result.n_layer + 1
        on_gpu = format_size(result.plan.gpu_total)
        if result.full_offload:
            detail = f"All {total} layers on the {self.gpu.name}: {on_gpu} {ctx}."
            return FitWords(Fit.FITS.value, "Full offload", detail)
        if result.plan.experts_on_cpu:
            experts = result.plan.experts_on_cpu
            where = "All" if result.all_layers else f"{layers} of"
            detail = (
                f"{where} {total} layers on the {self.gpu.name} ({on_gpu}) with the experts of "
                f"{experts} layers in system RAM ({format_size(ram)}) {ctx}."
            )
            text = f"Partial: {result.choice()}"
            return FitWords(Fit.PARTIAL.value, text, detail)
        if layers == 0:
            detail = (
                f"Not one layer fits in the {self.gpu.name}'s free memory while keeping "
                f"{format_size(self.margin)} spare; {format_size(ram)} of system RAM {ctx}."
            )
            return FitWords(Fit.CPU_ONLY.value, "CPU only", detail)
        detail = (
            f"{layers} of {total} layers on the {self.gpu.name} ({on_gpu}), the rest in "
            f"system RAM ({format_size(ram)}) {ctx}."
        )
        return FitWords(Fit.PARTIAL.value, f"Partial: {layers} of {total} layers", detail)

    def words_from_size(self, size: int) -> FitWords:
        """A rough verdict from the download size: weights ≈ file, plus a typical overhead."""
        need = size + SIZE_EXTRA
        note = "Estimated from the file size; the header gives the exact answer."
        if self.gpu is None:
            if need > self.ram_total:
                return self._too_large(need, approximate=True)
            return FitWords(Fit.CPU_ONLY.value, f"CPU only ({APPROX})", note, approximate=True)
        budget = self.gpu.usable_bytes - self.margin - CUDA_OVERHEAD
        if need <= budget:
            return FitWords(Fit.FITS.value, f"Full offload ({APPROX})", note, approximate=True)
        on_gpu = max(budget - SIZE_EXTRA, 0)
        if need - on_gpu > self.ram_total:
            return self._too_large(need - on_gpu, approximate=True)
        if on_gpu <= 0:
            return FitWords(Fit.CPU_ONLY.value, f"CPU only ({APPROX})", note, approximate=True)
        share = round(100 * on_gpu / size)
        text = f"Partial: about {share}% on the GPU ({APPROX})"
        return FitWords(Fit.PARTIAL.value, text, note, approximate=True)

    def _too_large(self, need: int, *, approximate: bool = False) -> FitWords:
        detail = (
            f"Needs about {format_size(need)} of system RAM; this machine has "
            f"{format_size(self.ram_total)}."
        )
        text = f"{TOO_LARGE} ({APPROX})" if approximate else TOO_LARGE
        return FitWords(Fit.NO_FIT.value, text, detail, approximate)
