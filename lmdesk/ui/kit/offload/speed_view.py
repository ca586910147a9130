"""The Load panel's speed: "≈ 14 tok/s (CPU only: ≈ 4)", the chart, and Benchmark.

Self-contained: the panel hands it each new plan (`show_plan`) and it does the
rest. The prediction is `core.speed.predict` over the panel's own plan (pure
arithmetic, well under a millisecond per tick); the curve over every layer
count is recomputed only when something other than the layer count changes.
The CPU's rates are measured once per machine off the GUI thread (the line
says "measuring" meanwhile). The benchmark, with a progress bar and Cancel, stores
each finished setting. In the app it runs through the model host (`use_host`): a job
in the chat's model queue that loads each setting in place of the chat's model and
loads that back after, so the model is never in memory twice. A panel without a host
(no app model to share) runs `core.speed.bench` on a worker thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
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
from lmdesk.core.estimate import Fit, GpuTarget, MemoryPlan, estimate, fit, judge
from lmdesk.core.gguf import ModelInfo
from lmdesk.core.gpus import GpuInfo
from lmdesk.core.speed import CpuSpeed, Prediction, model_work, predict
from lmdesk.core.speed.bench import BenchCancelled, BenchResult, run_bench, sweep_layers
from lmdesk.core.speed.results import SpeedResults, hardware_key
from lmdesk.core.speed.words import speed_line
from lmdesk.ui.kit.cpu_rates import cpu_rates
from lmdesk.ui.kit.offload.speed_chart import SpeedChart
from lmdesk.ui.kit.theme import SPACING
from lmdesk.ui.kit.widgets import muted, secondary_button
from lmdesk.ui.services.background import BackgroundTask, Progress

if TYPE_CHECKING:  # the serving core and the job import llama.cpp: on the model's thread
    from lmdesk.core.serving import Sink
    from lmdesk.core.speed.bench_job import BenchOutcome
    from lmdesk.ui.services.model_host import ModelHost

MEASURING = "Measuring this CPU's speed…"
CURVE_DELAY_MS = 60
"""How long the slider rests before the curves are drawn again (the line and the marker
follow every tick)."""
BENCHMARK = "Benchmark"
BENCH_TIP = (
    "Load the model and measure it like llama-bench: a 512-token prompt and 128 generated "
    "tokens, three times, the median. On a real GPU it sweeps the GPU layers. The chat's "
    "model makes room meanwhile (it waits for a reply to end) and is loaded back after."
)


def _unmeasured(why: str) -> str:
    return f"Speed unknown: this CPU could not be measured ({why})"


_RUNNING: set[QObject] = set()
"""Benchmarks under way: kept alive until they end even if their panel goes."""


class _JobBridge(QObject):
    """A benchmark job's reports, from the model queue's thread to the GUI thread.

    The job calls `progress` and the sink on the queue's thread; they reach this object's
    slots queued, on the GUI thread it lives in, and only there are the public signals
    emitted: whoever drops the bridge on `sig_finished` does so on the GUI thread, after
    every report was delivered."""

    sig_progress = Signal(str, int, int)
    sig_done = Signal(int)
    sig_failed = Signal(str, str)
    sig_finished = Signal()
    _progressed = Signal(str, int, int)
    _ended = Signal(object, str)

    def __init__(self) -> None:
        super().__init__(None)
        self.ended = threading.Event()
        self._progressed.connect(self.sig_progress, Qt.ConnectionType.QueuedConnection)
        self._ended.connect(self._on_ended, Qt.ConnectionType.QueuedConnection)

    def progress(self, done: int, total: int, text: str) -> None:
        self._progressed.emit(text, done, total)

    def sink(self) -> Sink:
        from lmdesk.core.serving import Sink

        return Sink(
            on_finished=lambda outcome: self._end(outcome, ""),
            on_failed=lambda error: self._end(None, str(error)),
        )

    def fail(self, message: str) -> None:
        self._end(None, message)

    def _end(self, outcome: BenchOutcome | None, error: str) -> None:
        self.ended.set()
        self._ended.emit(outcome, error)

    def _on_ended(self, outcome: BenchOutcome | None, error: str) -> None:
        if outcome is not None:
            self.sig_done.emit(len(outcome.results))
        else:
            self.sig_failed.emit(error, "")
        self.sig_finished.emit()


class SpeedView(QWidget):
    """The predicted speed line, the chart, and the benchmark's button, progress and Cancel."""

    sig_bench_finished = Signal(int)
    """A benchmark ended (done, failed or cancelled): how many settings it stored."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.line = QLabel("")
        self.line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = SpeedChart()
        self.expert_chart = SpeedChart(axis="Experts on CPU (layers)", fits_below=False)
        """For a mixture-of-experts model: tok/s against n_cpu_moe at the current GPU layers."""
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
        self._expert_key: tuple[Any, ...] = ()
        self._measured_key: tuple[Any, ...] = ()
        self._bench: BackgroundTask | None = None
        self._job: _JobBridge | None = None
        self._running = False
        self._host: ModelHost | None = None
        self._bench_stop = threading.Event()
        self._results: SpeedResults | None = None
        self._thread_counts: dict[int | None, ThreadCounts] = {}
        self._pending_curves: tuple[ModelInfo, MemoryPlan, CpuSpeed] | None = None
        self._curve_timer = QTimer(self)
        self._curve_timer.setSingleShot(True)
        self._curve_timer.setInterval(CURVE_DELAY_MS)
        self._curve_timer.timeout.connect(self.draw_curves)
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
        layout.addWidget(self.expert_chart)
        self.expert_chart.hide()
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        layout.addLayout(running)
        layout.addWidget(self.bench_status)
        self._show_running(False)
        self.bench_status.hide()

    def use_host(self, host: ModelHost | None) -> None:
        """Run benchmarks through the app's one owner of the loaded model."""
        self._host = host

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
        rates = self._rates_key(model, plan)
        cpu = cpu_rates().get(*rates)
        experts = gpu is not None and model.n_expert > 0
        if cpu is None:
            self._prediction = None
            failure = cpu_rates().failure(*rates)
            self.line.setText(MEASURING if failure is None else _unmeasured(failure))
            self._pending_curves = None
            self.chart.hide()  # no curve to draw yet
            self.expert_chart.hide()
            return
        self._prediction = predict(model, plan, cpu, self._gpus)
        self.line.setText(speed_line(self._prediction))
        # No curve where the GPU side's speed is unknown (a worker's device): no empty axes.
        self.chart.setVisible(gpu is not None and self._prediction.generation_tps is not None)
        self.chart.set_current(plan.n_gpu_layers)
        self.expert_chart.setVisible(experts)
        if experts:
            self.expert_chart.set_current(plan.settings.n_cpu_moe)
        # The curves (a plan and a prediction per point: 10-25 ms for 48 layers on a slow
        # CPU) are drawn once the slider rests, so a drag's ticks stay within a frame.
        self._pending_curves = (model, plan, cpu)
        self._curve_timer.start()
        self._refresh_measured(plan)

    @property
    def curves_pending(self) -> bool:
        """The curves wait for the slider to rest (`CURVE_DELAY_MS`) before they are drawn."""
        return self._pending_curves is not None

    def draw_curves(self) -> None:
        """Draw the curves for the latest plan now (the timer's slot)."""
        self._curve_timer.stop()
        pending, self._pending_curves = self._pending_curves, None
        if pending is None:
            return
        model, plan, cpu = pending
        self._refresh_curve(model, plan, cpu)
        if not self.expert_chart.isHidden():
            self._refresh_expert_curve(model, plan, cpu)

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

    def _rates_key(self, model: ModelInfo, plan: MemoryPlan) -> tuple[int, ThreadCounts, int]:
        """Which of the CPU's rates the plan's speed needs: weight type, threads, head width."""
        work = model_work(model)
        return work.main_type, self._threads(plan), work.head_dim

    def _replot(self, *_args: object) -> None:
        self._curve_key = ()
        if self._model is not None and self._plan is not None:
            self.show_plan(
                self._model, self._path, self._plan, self._gpus, self._margin, self._targets
            )

    def _on_probe_failed(self, message: str) -> None:
        self.line.setText(_unmeasured(message))

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

    def _refresh_expert_curve(self, model: ModelInfo, plan: MemoryPlan, cpu: CpuSpeed) -> None:
        """Tok/s for 0..n_layer layers' experts on the CPU at the current GPU layers; the
        limit is the fewest that `judge` says fit with the margin to spare."""
        gpus, targets = self._gpus, list(self._targets)
        if not gpus:
            return
        base = plan.settings.with_changes(n_cpu_moe=0)
        key = (id(model), base, gpus, tuple(targets), self._margin, cpu)
        if key == self._expert_key:
            return
        self._expert_key = key
        plans = [
            estimate(model, base.with_changes(n_cpu_moe=n), targets)
            for n in range(model.n_layer + 1)
        ]
        free = [g.usable_bytes for g in gpus]
        fitting = (
            n
            for n, p in enumerate(plans)
            if judge(p, gpu_free=free[0] if len(free) == 1 else free, margin=self._margin).fit
            is Fit.FITS
        )
        limit = next(fitting, model.n_layer + 1)
        curve = [predict(model, p, cpu, gpus).generation_tps for p in plans]
        self.expert_chart.set_curve(curve, limit)

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
        self.progress.setRange(0, 0)
        self._show_running(True)
        self.bench_status.hide()
        if self._host is not None:
            self._start_job(path, settings, layers, store, hardware, stop)
            return

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
        self._follow(self._bench)
        self._bench.start()

    def _start_job(
        self,
        path: Path,
        settings: Any,
        layers: list[int],
        store: SpeedResults,
        hardware: str,
        stop: threading.Event,
    ) -> None:
        assert self._host is not None
        bridge = self._job = _JobBridge()

        def keep(result: BenchResult) -> None:  # on the model queue's thread; whole rows only
            store.add(path, hardware, result)

        from lmdesk.core.speed.bench_job import BenchJob

        job = BenchJob(
            path,
            settings,
            layers,
            on_progress=bridge.progress,
            on_result=keep,
        )
        self._follow(bridge)
        try:
            self._host.run_benchmark(job, bridge.sink(), stop)
        except Exception as exc:  # the queue is full, the app is closing
            bridge.fail(str(exc))

    def _follow(self, task: BackgroundTask | _JobBridge) -> None:
        _RUNNING.add(task)
        task.sig_finished.connect(lambda: _RUNNING.discard(task))
        task.sig_progress.connect(self._on_bench_progress)
        task.sig_done.connect(self._on_bench_done)
        task.sig_failed.connect(self._on_bench_failed)

    def cancel_benchmark(self) -> None:
        self._bench_stop.set()
        if self._bench is not None:
            self._bench.cancel()

    def bench_running(self) -> bool:
        return self._running

    def wait_benchmark(self, timeout_s: float | None = None) -> bool:
        """Wait for the benchmark's work to end (its last signals may still be queued)."""
        if self._job is not None and not self._job.ended.wait(timeout_s):
            return False
        return self._bench.wait(timeout_s) if self._bench is not None else True

    def _show_running(self, running: bool) -> None:
        self._running = running
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
        self.wait_benchmark(30)
        if self._results is not None:
            self._results.close()
            self._results = None
