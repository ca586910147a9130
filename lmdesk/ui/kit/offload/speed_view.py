"""The Load panel's speed: "≈ 14 tok/s (CPU only: ≈ 4)", the chart, and Benchmark.

Self-contained: the panel hands it each new plan (`show_plan`) and it does the
rest. The prediction is `core.speed.predict` over the panel's own plan (pure
arithmetic, well under a millisecond per tick); the curve over every layer
count is recomputed only when something other than the layer count changes.
The CPU's rates are measured once per machine off the GUI thread (the line
says "measuring" meanwhile); the benchmark runs `core.speed.bench` on a worker
thread with a progress bar and Cancel, storing each finished setting.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lmdesk.core.cpu_threads import ThreadCounts, threads_for
from lmdesk.core.estimate import GpuTarget, MemoryPlan, estimate, fit
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.gpus import GpuInfo
from lmdesk.core.speed import CpuSpeed, Prediction, model_work, predict
from lmdesk.core.speed.bench import BenchCancelled, run_bench, sweep_layers
from lmdesk.core.speed.results import SpeedResults, hardware_key
from lmdesk.core.speed.words import speed_line
from lmdesk.ui.kit.cpu_rates import cpu_rates
from lmdesk.ui.kit.offload.speed_chart import SpeedChart
from lmdesk.ui.kit.theme import SPACING
from lmdesk.ui.kit.widgets import muted, secondary_button
from lmdesk.ui.services.background import BackgroundTask, Progress

MEASURING = "Measuring this CPU's speed…"
BENCHMARK = "Benchmark"
BENCH_TIP = (
    "Load the model and measure it like llama-bench: a 512-token prompt and 128 generated "
    "tokens, three times, the median. On a real GPU it sweeps the GPU layers."
)


_RUNNING: set[BackgroundTask] = set()


class SpeedView(QWidget):
    """The predicted speed line, the chart, and the benchmark's button, progress and Cancel."""

    sig_bench_finished = Signal(int)
    """A benchmark ended (done, failed or cancelled): how many settings it stored."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = QLabel("")
        self.line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = SpeedChart()
        self.bench_button = secondary_button(BENCHMARK)
        self.bench_button.setToolTip(BENCH_TIP)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.bench_status = muted("")
        self._model: ModelInfo | None = None
        self._path = ""
        self._plan: MemoryPlan | None = None
        self._gpu: GpuInfo | None = None  # the first GPU (benchmarks run on a real one)
        self._gpus: tuple[GpuInfo, ...] = ()
        self._targets: tuple[GpuTarget, ...] = ()
        self._margin = 0
        self._prediction: Prediction | None = None
        self._curve_key: tuple[Any, ...] = ()
        self._measured_key: tuple[Any, ...] = ()
        self._bench: BackgroundTask | None = None
        self._bench_stop = threading.Event()
        self._results: SpeedResults | None = None
        self._thread_counts: dict[int | None, ThreadCounts] = {}
        self._build()
        self.bench_button.clicked.connect(self.start_benchmark)
        self.cancel_button.clicked.connect(self.cancel_benchmark)
        cpu_rates().sig_ready.connect(self._replot)
        cpu_rates().sig_failed.connect(self._on_probe_failed)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(SPACING // 2)
        top = QHBoxLayout()
        top.addWidget(self.line, 1)
        top.addWidget(self.bench_button)
        layout.addLayout(top)
        layout.addWidget(self.chart)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        layout.addLayout(running)
        layout.addWidget(self.bench_status)
        self._show_running(False)
        self.bench_status.hide()

    # -- inputs -------------------------------------------------------------
    def show_plan(
        self,
        model: ModelInfo,
        path: str,
        plan: MemoryPlan,
        gpus: Sequence[GpuInfo] | GpuInfo | None,
        margin: int,
        targets: Sequence[GpuTarget] = (),
    ) -> None:
        """A new plan from the panel (every tick): the line, the marker, and the curve if needed.

        ``gpus`` are the plan's GPUs in order (one, several, or None for the CPU alone);
        ``targets`` the estimator's targets the plan was made with (their split), so the
        curve splits the layers the same way (default: one per GPU, split by free memory).
        """
        if isinstance(gpus, GpuInfo):
            gpus = (gpus,)
        gpus = tuple(gpus or ())
        self._model, self._path, self._plan, self._margin = model, path, plan, margin
        self._gpus, self._gpu = gpus, gpus[0] if gpus else None
        self._targets = tuple(targets) or tuple(
            GpuTarget(g.name, weight=float(g.usable_bytes) if len(gpus) > 1 else 1.0) for g in gpus
        )
        gpu = self._gpu
        cpu = self._cpu_speed(model, plan)
        if cpu is None:
            self._prediction = None
            self.line.setText(MEASURING)
            self.chart.hide()  # no curve to draw yet
            return
        self._prediction = predict(model, plan, cpu, self._gpus)
        self.line.setText(speed_line(self._prediction))
        self.chart.setVisible(gpu is not None)
        self.chart.set_current(plan.n_gpu_layers)
        self._refresh_curve(model, plan, cpu)
        self._refresh_measured(plan)

    def prediction(self) -> Prediction | None:
        """The figure shown now (None while the CPU is being measured)."""
        return self._prediction

    # -- the CPU's rates ----------------------------------------------------
    def _threads(self, plan: MemoryPlan) -> ThreadCounts:
        """`core.cpu_threads`' counts for the setting, read once per value (psutil reads
        /sys for the core count: ~0.3 ms, too much for every tick)."""
        wanted = plan.settings.n_threads
        if wanted not in self._thread_counts:
            self._thread_counts[wanted] = threads_for(wanted)
        return self._thread_counts[wanted]

    def _cpu_speed(self, model: ModelInfo, plan: MemoryPlan) -> CpuSpeed | None:
        return cpu_rates().get(model_work(model).main_type, self._threads(plan))

    def _replot(self, *_args: object) -> None:
        self._curve_key = ()
        if self._model is not None and self._plan is not None:
            self.show_plan(
                self._model, self._path, self._plan, self._gpus, self._margin, self._targets
            )

    def _on_probe_failed(self, message: str) -> None:
        self.line.setText(f"Speed unknown: this CPU could not be measured ({message})")

    # -- the curve and the measurements -------------------------------------
    def _refresh_curve(self, model: ModelInfo, plan: MemoryPlan, cpu: CpuSpeed) -> None:
        gpus, targets = self._gpus, list(self._targets)
        if not gpus:
            return
        base = plan.settings.with_changes(n_gpu_layers=0)
        key = (id(model), base, gpus, tuple(targets), self._margin, cpu)
        if key == self._curve_key:
            return
        self._curve_key = key
        curve = [
            predict(model, estimate(model, base.with_changes(n_gpu_layers=n), targets), cpu, gpus)
            for n in range(model.n_layer + 2)
        ]
        limit = fit(
            model,
            base,
            gpu_free=[g.usable_bytes for g in gpus],
            margin=self._margin,
            gpu_name=[g.name for g in gpus],
        ).n_gpu_layers
        self.chart.set_curve([p.generation_tps for p in curve], limit)

    def _hardware(self) -> str:
        gpu = self._gpu
        return hardware_key((gpu.name,) if gpu is not None and not gpu.is_what_if else ())

    def _store(self) -> SpeedResults:
        if self._results is None:
            self._results = SpeedResults()
        return self._results

    def _refresh_measured(self, plan: MemoryPlan, *, force: bool = False) -> None:
        threads = self._threads(plan).generation
        key = (self._path, self._hardware(), plan.settings.n_ctx, threads)
        if key == self._measured_key and not force:
            return
        self._measured_key = key
        stored = self._store().for_model(Path(self._path), key[1], ctx=plan.settings.n_ctx)
        self.chart.set_measured(
            [
                (s.result.gpu_layers, s.result.generation_tps)
                for s in stored
                if s.result.threads == threads
            ]
        )

    # -- the benchmark ------------------------------------------------------
    def benchmark_layers(self) -> list[int]:
        """What the button measures: a sweep on a real GPU, else the CPU alone (0 layers)."""
        if self._model is None or self._gpu is None or self._gpu.is_what_if:
            return [0]
        return sweep_layers(self._model.n_layer)

    def start_benchmark(self) -> None:
        if self._model is None or self._plan is None or self.bench_running():
            return
        path, settings, layers = Path(self._path), self._plan.settings, self.benchmark_layers()
        store, hardware, stop = self._store(), self._hardware(), threading.Event()
        self._bench_stop = stop

        def work(progress: Progress) -> int:
            stored = 0
            try:
                for result in run_bench(
                    path,
                    settings,
                    layers,
                    cancel=stop,
                    progress=lambda done, total, text: progress(text, done, total),
                ):
                    store.add(path, hardware, result)
                    stored += 1
            except BenchCancelled:
                pass
            return stored

        # No parent: if the panel goes mid-run, the task outlives it (kept in _RUNNING until it
        # ends) and Qt drops the connections to the panel's slots, instead of a worker
        # emitting into a deleted object.
        self._bench = BackgroundTask(work, name="benchmark")
        _RUNNING.add(self._bench)
        self._bench.sig_finished.connect(lambda task=self._bench: _RUNNING.discard(task))
        self._bench.sig_progress.connect(self._on_bench_progress)
        self._bench.sig_done.connect(self._on_bench_done)
        self._bench.sig_failed.connect(self._on_bench_failed)
        self.progress.setRange(0, 0)
        self._show_running(True)
        self.bench_status.hide()
        self._bench.start()

    def cancel_benchmark(self) -> None:
        self._bench_stop.set()
        if self._bench is not None:
            self._bench.cancel()

    def bench_running(self) -> bool:
        return self._bench is not None and self._bench.running

    def wait_benchmark(self, timeout_s: float | None = None) -> bool:
        return self._bench.wait(timeout_s) if self._bench is not None else True

    def _show_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running)
        self.bench_button.setEnabled(not running)

    def _on_bench_progress(self, text: str, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(text)

    def _on_bench_done(self, stored: int) -> None:
        self._finish(
            "Benchmark cancelled" if self._bench_stop.is_set() else "Benchmark done", stored
        )

    def _on_bench_failed(self, message: str, _details: str) -> None:
        cancelled = self._bench_stop.is_set() or message == "Cancelled"
        self._finish("Benchmark cancelled" if cancelled else f"Benchmark failed: {message}", 0)

    def _finish(self, text: str, stored: int) -> None:
        self._show_running(False)
        self.bench_status.setText(f"{text} ({stored} setting{'s' * (stored != 1)} stored)")
        self.bench_status.show()
        if self._plan is not None:
            self._refresh_measured(self._plan, force=True)
        self.sig_bench_finished.emit(stored)

    def shutdown(self) -> None:
        """Stop the benchmark and wait for it (the app is closing, or the panel goes)."""
        self.cancel_benchmark()
        if self._bench is not None:
            self._bench.wait(30)
        if self._results is not None:
            self._results.close()
            self._results = None
