"""The Load panel: how much of a model the chosen GPU can take, before anything crashes.

Every edit recomputes the memory plan synchronously on the GUI thread: the
estimate is arithmetic over the already-parsed header (~0.1 ms), so the bars
and the verdict follow the slider without lag. Nothing here reads the disk
per tick; the settings file is written ~500 ms after the last change.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QCloseEvent, QResizeEvent
from PySide6.QtWidgets import QFrame, QScrollArea, QStackedLayout, QVBoxLayout, QWidget

from lmdesk.core.estimate import (
    Fit,
    FitResult,
    GpuTarget,
    MemoryPlan,
    Verdict,
    estimate,
    fit,
    judge,
)
from lmdesk.core.estimate.projector import (
    ProjectorInfo,
    gpu_bytes,
    projector_or_none,
    with_projector,
)
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.gpus import (
    GpuInfo,
    GpuProbe,
    LlamaBuild,
    SystemMemory,
    cuda_install_hint,
    system_memory,
)
from lmdesk.core.load_plan import keep_to_card, settings_for, to_remembered
from lmdesk.core.load_settings import LoadSettings
from lmdesk.ui.kit.offload.controls import OffloadControls
from lmdesk.ui.kit.offload.gpu_picker import WORKERS, endpoint_of, is_remote
from lmdesk.ui.kit.offload.remember import RememberedSettings
from lmdesk.ui.kit.offload.segments import gpu_segments, gpu_title, ram_segments
from lmdesk.ui.kit.offload.speed_view import SpeedView
from lmdesk.ui.kit.offload.suggestion import suggestion_html
from lmdesk.ui.kit.offload.view import OffloadView
from lmdesk.ui.kit.theme import SPACING
from lmdesk.ui.kit.widgets import muted, primary_button
from lmdesk.ui.services.context import SettingsStore
from lmdesk.ui.services.worker_feed import WorkerReadings

EMPTY_TEXT = "Choose a model to see how much of it fits your GPU"
LOAD = "Load model"
LOAD_ANYWAY = "Load anyway (may run out of GPU memory)"
LOADED = "Loaded ✓"
RELOAD = "Reload with these settings"


MARGIN = 12
"""Around the panel's rows and its Load button."""


class _Scroll(QScrollArea):
    """The panel's rows, scrolled up and down on a short screen. Its scroll bar takes the
    rows' right margin when it shows, so the rows keep their width: never cut, never
    squeezed, and the panel no wider than without it."""

    def __init__(self, inner: QWidget, margin: int) -> None:
        super().__init__()
        self._margin = margin
        self.setWidget(inner)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.viewport().setAutoFillBackground(False)
        inner.setAutoFillBackground(False)
        self.verticalScrollBar().rangeChanged.connect(self._make_room)

    def _bar_width(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def _make_room(self, _minimum: int, maximum: int) -> None:
        inner = self.widget()
        layout = inner.layout() if inner is not None else None
        if layout is None:
            return
        margins = layout.contentsMargins()
        right = max(0, self._margin - self._bar_width()) if maximum > 0 else self._margin
        if right != margins.right():
            layout.setContentsMargins(margins.left(), margins.top(), right, margins.bottom())

    def minimumSizeHint(self) -> QSize:
        inner = self.widget()
        if inner is None or inner.layout() is None:
            return super().minimumSizeHint()
        rows = inner.minimumSizeHint().width() - inner.layout().contentsMargins().right()
        width = rows + max(self._margin, self._bar_width())
        return QSize(width, super().minimumSizeHint().height())


class OffloadPanel(QWidget):
    """Target GPU, GPU layers, context, KV and CPU threads, with the memory they will take."""

    settings_changed = Signal(object)
    """The person changed a setting: the new `LoadSettings`."""
    load_requested = Signal(str, object)
    """"Load model" was pressed: the model's path and the `LoadSettings` to load it with."""

    def __init__(self, store: SettingsStore | None = None, parent: QWidget | None = None) -> None:
        """`store` is the app's settings (the panel remembers per-model settings there and
        follows the safety margin); without one, the settings file's are used."""
        super().__init__(parent)
        self._store = store if store is not None else SettingsStore(parent=self)
        self._model: ModelInfo | None = None
        self._path = ""
        self._base = LoadSettings()
        self._probe = GpuProbe(gpus=())
        self._build: LlamaBuild | None = None
        self._memory: SystemMemory = system_memory()
        self._remembered = RememberedSettings(self._store, self)
        self._margin = self._store.settings.gpu_safety_margin_bytes
        self._wanted_gpu: str | None = None
        self._fit: FitResult | None = None
        self._fit_key: tuple[object, ...] = ()
        self._plan: MemoryPlan | None = None
        self._verdict: Verdict | None = None
        self._loaded: tuple[str, LoadSettings] | None = None
        self._projector: ProjectorInfo | None = None
        self.controls = OffloadControls()
        self.view = OffloadView()
        self.speed = SpeedView()
        self._caption = ""
        self.caption = muted("", wrap=False)
        self.vision = muted("", wrap=False)
        self.vision.setObjectName("vision-projector")
        self.vision.hide()
        self.load_button = primary_button(LOAD)
        self.load_button.setDefault(True)
        self.empty = muted(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty)
        self._stack.addWidget(self._content())
        self.controls.changed.connect(self._on_edit)
        self.controls.gpu.target_changed.connect(self._on_target_picked)
        self.controls.auto_clicked.connect(self.auto_fit)
        self.controls.suggestion_applied.connect(self.apply_full_offload)
        self.load_button.clicked.connect(self._request_load)
        self._store.changed.connect(lambda s: self.set_margin(s.gpu_safety_margin_bytes))
        self._recompute()

    def _content(self) -> QWidget:
        """The settings, bars and speed, scrolling on a short screen, over the Load button,
        which stays in sight."""
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.setContentsMargins(MARGIN, MARGIN, MARGIN, 0)
        layout.setSpacing(SPACING * 2)
        layout.addWidget(self.caption)
        layout.addWidget(self.vision)
        layout.addWidget(self.controls)
        layout.addWidget(self.view)
        layout.addWidget(self.speed)
        layout.addStretch(1)
        scroll = _Scroll(inner, MARGIN)
        page = QWidget()
        outer = QVBoxLayout(page)
        outer.setContentsMargins(0, 0, 0, MARGIN)
        outer.setSpacing(SPACING * 2)
        outer.addWidget(scroll, 1)
        button_row = QVBoxLayout()
        button_row.setContentsMargins(MARGIN, 0, MARGIN, 0)
        button_row.addWidget(self.load_button)
        outer.addLayout(button_row)
        return page

    def closeEvent(self, event: QCloseEvent) -> None:
        """A panel closed within the save delay of a change still keeps it (and writes it
        now, to the profile it was made for, not to whichever is current when the timer
        would have fired)."""
        self._remembered.flush()
        super().closeEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide_caption()

    def _elide_caption(self) -> None:
        """One line: the model's file name is shortened in the middle to fit."""
        width = max(self.width() - 24, 80)
        metrics = self.caption.fontMetrics()
        self.caption.setText(metrics.elidedText(self._caption, Qt.TextElideMode.ElideMiddle, width))
        self.caption.setToolTip(self._caption)

    # -- inputs -------------------------------------------------------------
    def set_model(self, model: ModelInfo, path: str, settings: LoadSettings | None = None) -> None:
        """Plan for `model`: `settings`, else the ones remembered for `path`, else Auto."""
        self._remembered.flush()
        self._model, self._path = model, path
        self._fit = None
        self._memory = system_memory()
        self.controls.set_model(
            n_layer=model.n_layer, n_ctx_train=model.n_ctx_train, experts=model.n_expert > 0
        )
        self._caption = f"{Path(path).name} · {model.quantization} · {model.n_layer} layers"
        self._elide_caption()
        saved = self._remembered.recall(path) if settings is None else None
        if settings is not None:
            self._base = settings
        else:  # the one rule (core.load_plan), for the card shown; Auto below adds its line
            known = self._store.settings
            if saved is not None:
                known = known.remember(path, saved)
            picker = self.controls.gpu
            self._base = settings_for(
                model, path, known, gpu=picker.current(), machine=picker.detected()
            )
        if saved is not None:
            self._wanted_gpu = saved.gpu
            self.controls.gpu.select(saved.gpu)
        elif settings is not None and settings.rpc:  # loaded over workers: show them
            self._wanted_gpu = WORKERS
            self.controls.gpu.select(WORKERS)
        self._show_projector(projector_or_none(self._base.mmproj))
        self.controls.set_settings(self._base)
        self._stack.setCurrentIndex(1)
        self._recompute()
        if settings is None and saved is None and self.controls.gpu.current() is not None:
            self.auto_fit(announce=False)

    def _show_projector(self, projector: ProjectorInfo | None) -> None:
        """The vision projector loaded with the model: a line above the settings, and its
        memory in the bars (read once here, from the header; never per tick)."""
        self._projector = projector
        self.vision.setVisible(projector is not None)
        if projector is not None:
            size = (projector.weights(32) + projector.compute()) / 1e6
            self.vision.setText(f"Vision: projector {projector.name} ({size:,.0f} MB)")
            self.vision.setToolTip(
                "Loaded with the model so the chat can read pictures: its weights and the "
                "buffer for one image are counted in the bars below."
            )

    def projector(self) -> ProjectorInfo | None:
        """The vision projector the plan counts (None: a text-only load)."""
        return self._projector

    def set_gpus(self, probe: GpuProbe) -> None:
        """New GPU readings (from `GpuFeed`): refresh the bars, keep the person's choice."""
        self._probe = probe
        self._memory = system_memory()
        self.controls.gpu.set_probe(probe)
        if self._wanted_gpu and self.controls.gpu.current_key() != self._wanted_gpu:
            self.controls.gpu.select(self._wanted_gpu)
        self._refresh_hint()
        self._recompute()

    def set_workers(self, readings: WorkerReadings) -> None:
        """What the remote workers offer now (from `WorkerFeed`): the picker's
        "This machine + N workers" target, and the unreachable ones greyed out."""
        self.controls.gpu.set_workers(readings.devices, readings.unreachable)
        if self._wanted_gpu and self.controls.gpu.current_key() != self._wanted_gpu:
            self.controls.gpu.select(self._wanted_gpu)
        self._recompute()

    def set_llama_build(self, build: LlamaBuild) -> None:
        """The installed llama.cpp (from `llama_build_info`, read off the GUI thread)."""
        self._build = build
        self._refresh_hint()

    def set_margin(self, margin_bytes: int) -> None:
        """A new GPU safety margin (the settings store's `changed` calls this)."""
        self._margin = margin_bytes
        self._recompute()

    def set_loaded(self, path: str | None, settings: LoadSettings | None = None) -> None:
        """The model the engine holds now, loaded with `settings` (None: nothing loaded).
        For that model the button reads "Loaded" until a setting changes, then "Reload"."""
        self._loaded = (path, settings) if path is not None and settings is not None else None
        self._recompute()

    # -- outputs ------------------------------------------------------------
    def model(self) -> ModelInfo | None:
        return self._model

    def settings(self) -> LoadSettings:
        """The controls' settings; ``rpc`` names the chosen target's workers, ``gpus`` the
        card chosen when it is one of several (`keep_to_card`)."""
        picker = self.controls.gpu
        settings = self.controls.settings(self._base).with_changes(rpc=picker.current_workers())
        targets = picker.current_gpus()
        return keep_to_card(settings, targets[0] if len(targets) == 1 else None, picker.detected())

    def current_plan(self) -> MemoryPlan:
        if self._plan is None:
            raise RuntimeError("no model is set")
        return self._plan

    def current_verdict(self) -> Verdict:
        if self._verdict is None:
            raise RuntimeError("no model is set")
        return self._verdict

    def last_fit(self) -> FitResult | None:
        return self._fit

    # -- actions ------------------------------------------------------------
    def auto_fit(self, *, announce: bool = True) -> FitResult | None:
        """Set the most GPU layers that fit, and offer the longest full-offload context."""
        gpus = self.controls.gpu.current_gpus()
        if self._model is None or not gpus:
            return None
        frees = self._frees(gpus)
        result = fit(
            self._model,
            self.settings(),
            gpu_free=frees[0] if len(gpus) == 1 else frees,
            margin=self._margin,
            gpu_name=gpus[0].name if len(gpus) == 1 else [g.name for g in gpus],
            overhead=[t.overhead for t in self._targets(gpus)],
        )
        self._fit, self._fit_key = result, self._suggestion_key()
        self.controls.set_settings(
            self.settings().with_changes(
                n_gpu_layers=result.n_gpu_layers, n_cpu_moe=result.n_cpu_moe
            )
        )
        self._recompute()
        if announce:
            self._changed()
        return result

    def apply_full_offload(self) -> None:
        """Use the suggested context with every layer on the GPU."""
        if self._fit is None or self._fit.max_full_offload_ctx <= 0:
            return
        self.controls.set_settings(
            self.settings().with_changes(
                n_gpu_layers=self._fit.n_layer + 1,
                n_ctx=self._fit.max_full_offload_ctx,
                n_cpu_moe=0,
            )
        )
        self._recompute()
        self._changed()

    def save_now(self) -> None:
        """Write pending remembered settings now (the window calls it on close)."""
        self._remembered.flush()

    # -- internals ----------------------------------------------------------
    def _on_target_picked(self) -> None:
        self._wanted_gpu = None

    def _on_edit(self) -> None:
        self._recompute()
        self._changed()

    def _changed(self) -> None:
        if self._model is None:
            return
        settings = self.settings()
        self.settings_changed.emit(settings)
        if self._path:
            gpus = self.controls.gpu.current_gpus()
            remembered = to_remembered(
                settings, gpu=self.controls.gpu.current_key() if gpus else None
            )
            self._remembered.schedule(self._path, remembered)

    def _update_button(self, settings: LoadSettings, *, risky: bool) -> None:
        loaded_path, loaded_settings = self._loaded or (None, None)
        held = loaded_path is not None and Path(loaded_path) == Path(self._path)
        unchanged = held and loaded_settings == settings
        self.load_button.setEnabled(not unchanged)
        if unchanged:
            self.load_button.setText(LOADED)
        else:
            self.load_button.setText(LOAD_ANYWAY if risky else RELOAD if held else LOAD)

    def _request_load(self) -> None:
        if self._model is not None:
            self.load_requested.emit(self._path, self.settings())

    def _suggestion_key(self) -> tuple[object, ...]:
        s = self.settings()
        return (self.controls.gpu.current_key(), s.type_k, s.type_v, s.flash_attn, self._margin)

    def _refresh_suggestion(self, model: ModelInfo, settings: LoadSettings) -> None:
        """Auto's line stays while it is true: same GPU, cache type and margin."""
        if self._fit is not None and self._fit_key != self._suggestion_key():
            self._fit = None
        if self._fit is None:
            self.controls.show_suggestion(None)
            return
        self.controls.show_suggestion(
            suggestion_html(
                self._fit,
                n_ctx=settings.n_ctx,
                n_gpu_layers=settings.gpu_layers_for(model.n_layer),
                n_ctx_train=model.n_ctx_train,
                n_cpu_moe=settings.n_cpu_moe,
            )
        )

    def _frees(self, gpus: tuple[GpuInfo, ...]) -> list[int]:
        """Each GPU's usable bytes for the layers; the first also holds the projector."""
        frees = [g.usable_bytes for g in gpus]
        if frees:
            frees[0] -= gpu_bytes(self._projector)
        return frees

    def _targets(self, gpus: tuple[GpuInfo, ...]) -> list[GpuTarget]:
        """The estimator's GPUs: several split the layers by usable memory, as `fit` does.
        A worker's device has no CUDA context in this process (overhead 0)."""
        if len(gpus) == 1 and not is_remote(gpus[0]):
            return [GpuTarget(gpus[0].name)]
        return [
            GpuTarget(g.name, weight=float(max(free, 0)), overhead=0)
            if is_remote(g)
            else GpuTarget(g.name, weight=float(max(free, 0)))
            for g, free in zip(gpus, self._frees(gpus), strict=True)
        ]

    def _refresh_hint(self) -> None:
        build = self._build
        self.view.set_cuda_hint(cuda_install_hint(build, self._probe) if build else None)

    def _recompute(self) -> None:
        gpu = self.controls.gpu.current()
        self.controls.set_gpu_available(gpu is not None)
        if self._model is None:
            self._stack.setCurrentIndex(0)
            self.load_button.setEnabled(False)
            return
        self.load_button.setEnabled(True)
        gpus = self.controls.gpu.current_gpus()
        self.controls.set_gpus(gpus)
        settings = self.settings()
        self._refresh_suggestion(self._model, settings)
        targets = self._targets(gpus)
        plan = with_projector(estimate(self._model, settings, targets), self._projector)
        self._plan = plan
        free: int | list[int] | None = (
            None
            if not gpus
            else gpus[0].usable_bytes
            if len(gpus) == 1
            else [g.usable_bytes for g in gpus]
        )
        self._verdict = judge(plan, gpu_free=free, margin=self._margin)
        self.view.show_verdict(self._verdict)
        risky = gpu is not None and not gpu.is_what_if and self._verdict.fit is Fit.NO_FIT
        self._update_button(settings, risky=risky)
        if len(gpus) == 1:
            self.view.show_gpu(gpus[0].total_bytes, gpu_segments(plan.gpus[0], gpus[0]))
        elif gpus:
            self.view.show_gpus(
                [
                    (_bar_title(i, g), g.total_bytes, gpu_segments(device, g))
                    for i, (device, g) in enumerate(zip(plan.gpus, gpus, strict=True))
                ]
            )
        else:
            reason = self._probe.reason or "none detected"
            self.view.show_no_gpu(
                f"No NVIDIA GPU found ({reason}) — choose a what-if card to plan."
            )
        self.view.show_ram(self._memory.total_bytes, ram_segments(plan.cpu, self._memory))
        # A worker's device has no known speed (nor its link): the line says so.
        self.speed.show_plan(self._model, self._path, plan, gpus, self._margin, targets)


def _bar_title(index: int, gpu: GpuInfo) -> str:
    """A local card's "GPU 1 · name"; a worker's device "Worker host:port · RPC0"."""
    if is_remote(gpu):
        return f"Worker {endpoint_of(gpu)} · {gpu.name.partition('@')[0]}"
    return gpu_title(index, gpu)
