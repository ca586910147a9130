"""The speed model (issue 12 §2-3): llama.cpp's CPU kernels timed and cached, the
prediction's arithmetic, GPU specs from the card table and NVML, the compare table,
`lmdesk estimate`'s prediction, and `lmdesk bench` storing whole rows only."""

from __future__ import annotations

import importlib
import io
import json
import threading
import time
from contextlib import redirect_stdout
from pathlib import Path

import psutil
import pytest
from gguf import GGMLQuantizationType as Q
from gguf_bytes import header, kv_str, kv_u32, tensor_info
from nvml_standin import NvmlStandIn

from lmdesk.cli.main import main
from lmdesk.core.cpu_threads import ThreadCounts, threads_for
from lmdesk.core.estimate import GpuTarget, estimate, fit
from lmdesk.core.estimate.kv import padded_ctx
from lmdesk.core.gguf import ModelInfo, read_model
from lmdesk.core.gpus import WHAT_IF_CARDS, custom_card, probe_gpus
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.speed.bench import BenchCancelled, run_bench, sweep_layers
from lmdesk.core.speed.compare import compare_cards, to_csv
from lmdesk.core.speed.cpu_speed import CpuSpeed, cache_path, cpu_speed, machine_key
from lmdesk.core.speed.ggml_probe import measure_attention, measure_kernels, measure_step
from lmdesk.core.speed.predict import TOKEN_OVERHEAD_S, predict
from lmdesk.core.speed.results import SpeedResults, hardware_key
from lmdesk.core.speed.words import speed_line
from lmdesk.core.speed.work import model_work

# The package exports functions named like their modules: reach the modules themselves.
cpu_speed_module = importlib.import_module("lmdesk.core.speed.cpu_speed")
predict_module = importlib.import_module("lmdesk.core.speed.predict")
RTX_4060 = next(c for c in WHAT_IF_CARDS if c.name == "GeForce RTX 4060 8 GB")
RTX_4090 = next(c for c in WHAT_IF_CARDS if c.name == "GeForce RTX 4090 24 GB")
CPU = CpuSpeed(threads=ThreadCounts(1, 1), read_bytes_per_s=5e9, flops=50e9)
"""Fixed CPU rates: the arithmetic is checked exactly, whatever this machine measures."""


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> ModelInfo:
    return read_model(smollm2_path)


@pytest.fixture
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget this process's readings, so the data folder's file is what counts."""
    monkeypatch.setattr(cpu_speed_module, "_MEMO", {})


# -- the CPU probe ------------------------------------------------------------------


def test_the_probe_times_llama_cpps_own_kernels() -> None:
    rates = measure_kernels(int(Q.Q4_1), 1)
    # Any CPU that runs llama.cpp reads more than 100 MB/s and does more than 0.1 GFLOP/s,
    # and none reads a matrix-vector product faster than 1 TB/s on one thread.
    assert 1e8 < rates.read_bytes_per_s < 1e12
    assert 1e8 < rates.flops < 1e13


def test_cpu_rates_are_kept_per_machine_in_the_data_folder(fresh_memo: None) -> None:
    threads = ThreadCounts(1, 1)
    measured = cpu_speed(int(Q.Q8_0), threads, 64)
    data = json.loads(cache_path().read_text(encoding="utf-8"))
    assert data["machine"] == machine_key()
    assert data["rates"][f"{int(Q.Q8_0)}/1"] == [
        measured.read_bytes_per_s,
        measured.flops,
        measured.ram_read_bytes_per_s,
    ]
    assert data["rates"]["attention/64/1"] == [measured.attention_flash, measured.attention_plain]
    assert data["rates"]["step/1"] == [measured.step_s]
    # What the file says is used (no new measurement): change it and read it back.
    data["rates"][f"{int(Q.Q8_0)}/1"] = [1.5e9, 2.5e10, 1.0e9]
    cache_path().write_text(json.dumps(data), encoding="utf-8")
    cpu_speed_module._MEMO.clear()
    kept = cpu_speed(int(Q.Q8_0), threads)
    assert (kept.read_bytes_per_s, kept.flops, kept.ram_read_bytes_per_s) == (1.5e9, 2.5e10, 1e9)
    # Re-run on demand measures again; another machine's file is not used.
    cpu_speed_module._MEMO.clear()
    assert cpu_speed(int(Q.Q8_0), threads, refresh=True).read_bytes_per_s != 1.5e9
    data["machine"] = "another CPU | 64 CPUs"
    data["rates"][f"{int(Q.Q8_0)}/1"] = [1.5e9, 2.5e10]
    cache_path().write_text(json.dumps(data), encoding="utf-8")
    cpu_speed_module._MEMO.clear()
    assert cpu_speed(int(Q.Q8_0), threads).read_bytes_per_s != 1.5e9


def test_a_measurement_that_crawled_is_used_but_not_kept(
    fresh_memo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = importlib.import_module("lmdesk.core.speed.ggml_probe")
    monkeypatch.setattr(probe, "MAX_PROBE_S", 0.0)  # every run counts as crawling
    threads = ThreadCounts(1, 1)
    speed = cpu_speed(int(Q.Q8_0), threads, 64)
    assert speed.read_bytes_per_s > 0 and speed.attention_flash > 0
    assert not cache_path().exists()  # measured again next time, on a calmer machine
    monkeypatch.setattr(probe, "MAX_PROBE_S", 0.25)
    kept = cpu_speed(int(Q.Q8_0), threads, 64)
    assert json.loads(cache_path().read_text(encoding="utf-8"))["rates"]["attention/64/1"] == [
        kept.attention_flash,
        kept.attention_plain,
    ]


# -- the prediction -----------------------------------------------------------------


def test_cpu_only_generation_is_bytes_over_the_cpus_rate(smol: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=2048)
    plan = estimate(smol, settings)
    got = predict(smol, plan, CPU, depth=1000)
    # Every block's tensors and the output layer (tied: token_embd, read whole), once.
    blocks = sum(t.n_bytes for t in smol.tensors if t.name.startswith("blk."))
    output = sum(t.n_bytes for t in smol.tensors if t.name.startswith("output"))
    weights = blocks + output + smol.token_embd.n_bytes  # type: ignore[union-attr]
    kv = 30 * (192 + 192) * 2 * padded_ctx(1000)  # SmolLM2: 30 layers, f16 K and V rows
    expected = 1 / ((weights + kv) / CPU.read_bytes_per_s + TOKEN_OVERHEAD_S)
    assert got.generation_tps == pytest.approx(expected, rel=1e-9)
    assert got.cpu_only_generation_tps == pytest.approx(expected, rel=1e-9)
    assert speed_line(got) == f"≈ {expected:.0f} tok/s (CPU only)"


def test_attention_and_graph_nodes_cost_the_cpu_what_its_probe_says(smol: ModelInfo) -> None:
    # 1 us per query-head x cell with flash attention, 0.2 with it off, 0.5 us per node.
    cpu = CpuSpeed(ThreadCounts(2, 2), 5e9, 50e9, attention_flash=1e6, attention_plain=5e6)
    cpu = CpuSpeed(**{**cpu.__dict__, "step_s": 0.5e-6})
    work = model_work(smol)
    assert (work.head_dim, work.query_heads, work.widest_layer_heads) == (64, 30 * 9, 9)
    weights = sum(layer.dense_bytes for layer in work.layers.values()) / 5e9
    nodes = predict_module.GRAPH_NODES_PER_LAYER * 30 * 0.5e-6
    fixed = weights + nodes + TOKEN_OVERHEAD_S

    def per_token(settings: LoadSettings, depth: int) -> float:
        got = predict(smol, estimate(smol, settings), cpu, depth=depth).generation_tps
        assert got is not None
        return 1 / got

    # 544 cells in a 1024-cell cache: llama.cpp attends over 768 (a multiple of 256), 512 or
    # more, so it splits the cells between the 2 threads: 384 each, the first all full.
    deep = per_token(LoadSettings(n_ctx=1024, n_threads=2), 544)
    assert deep == pytest.approx(fixed + 270 * 384 / 0.5e6, rel=1e-9)
    # 200 cells: 256 attended, fewer than 512: by heads, 9 in chunks of 2 taken in turn
    # (2+2+1 and 2+2): the busiest thread does 5 of the 9.
    shallow = per_token(LoadSettings(n_ctx=1024, n_threads=2), 200)
    assert shallow == pytest.approx(fixed + 30 * 5 * 200 / 0.5e6, rel=1e-9)
    # Flash attention off: llama.cpp's plain graph, at the plain rate, evenly shared.
    plain = per_token(LoadSettings(n_ctx=1024, n_threads=2, flash_attn=False), 544)
    assert plain == pytest.approx(fixed + 270 * 544 / 5e6, rel=1e-9)
    # Never faster than reading the cache: with a fast attention the KV bytes decide.
    fast = CpuSpeed(**{**cpu.__dict__, "attention_flash": 1e15})
    kv = 30 * (192 + 192) * 2 * padded_ctx(544)
    got = predict(smol, estimate(smol, LoadSettings(n_ctx=1024)), fast, depth=544)
    assert got.generation_tps == pytest.approx(1 / (fixed + kv / 5e9), rel=1e-9)


def test_a_cpu_prompt_is_its_arithmetic_plus_one_read_of_the_weights_per_micro_batch(
    smol: ModelInfo,
) -> None:
    work = model_work(smol)
    blocks = [layer for il, layer in work.layers.items() if il < smol.n_layer]
    output = work.layers[smol.n_layer]
    weights = sum(layer.dense_bytes for layer in work.layers.values())
    settings = LoadSettings(n_ctx=4096, n_batch=256, n_ubatch=256)

    def expected(prompt: int) -> float:
        attention = 2.0 * work.attention_macs_per_cell * prompt / 2
        flops = prompt * (sum(2.0 * b.dense_macs for b in blocks) + attention)
        flops += 2.0 * output.dense_macs  # the output layer: the last token only
        passes = -(-prompt // 256)
        read = passes * sum(b.dense_bytes for b in blocks) + output.dense_bytes
        return prompt / (flops / CPU.flops + read / CPU.read_bytes_per_s)

    for prompt in (64, 256, 600):  # one, one and three micro-batches of 256
        got = predict(smol, estimate(smol, settings), CPU, prompt_tokens=prompt).prompt_tps
        assert got == pytest.approx(expected(prompt), rel=1e-9)
    assert weights == sum(b.dense_bytes for b in blocks) + output.dense_bytes


def test_the_probe_times_attention_and_graph_nodes() -> None:
    flash = measure_attention(64, 1, flash=True)
    plain = measure_attention(64, 1, flash=False)
    # A query-head x cell pair is 128 multiply-adds at 64-wide heads: no CPU does one in
    # under 0.1 ns on one thread (1,280 GFLOP/s) or takes longer than 10 us.
    for rate in (flash, plain):
        assert 1e5 < rate < 1e10
    # A node that adds 64 floats costs between 1 ns and 1 ms.
    assert 1e-9 < measure_step(1) < 1e-3


def test_more_gpu_layers_on_a_faster_card_are_faster(smol: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=4096)
    curve = [
        predict(
            smol,
            estimate(smol, settings.with_changes(n_gpu_layers=n), [GpuTarget(RTX_4060.name)]),
            CPU,
            [RTX_4060],
        )
        for n in range(smol.n_layer + 2)
    ]
    rates = [p.generation_tps for p in curve]
    assert all(r is not None for r in rates)
    assert rates == sorted(rates)  # type: ignore[type-var]
    assert rates[0] == pytest.approx(curve[0].cpu_only_generation_tps)
    full = estimate(smol, settings.with_changes(n_gpu_layers=-1), [GpuTarget(RTX_4090.name)])
    on_4090 = predict(smol, full, CPU, [RTX_4090]).generation_tps
    assert on_4090 is not None and rates[-1] is not None and on_4090 > rates[-1]
    # All on the GPU: the GPU's bytes over its bandwidth (x efficiency), plus the two
    # boundaries (into the first block and back for sampling is not counted: input only).
    assert "CPU only: ≈" in speed_line(curve[-1])


def test_a_card_without_a_known_bandwidth_says_unknown(smol: ModelInfo) -> None:
    card = custom_card(12 * 1024**3)
    plan = estimate(smol, LoadSettings(n_gpu_layers=10), [GpuTarget(card.name)])
    got = predict(smol, plan, CPU, [card])
    assert got.generation_tps is None and got.prompt_tps is None
    assert speed_line(got).startswith("Speed on this GPU unknown")


def _moe_model(tmp_path: Path) -> ModelInfo:
    """A header-only MoE: 2 layers, 8 experts, 2 used per token."""
    n_embd, n_ff, n_expert, n_vocab = 256, 512, 8, 1000
    tensors = [("token_embd.weight", (n_embd, n_vocab))]
    for il in range(2):
        p = f"blk.{il}."
        tensors += [
            (p + "attn_q.weight", (n_embd, n_embd)),
            (p + "attn_k.weight", (n_embd, n_embd)),
            (p + "attn_v.weight", (n_embd, n_embd)),
            (p + "attn_output.weight", (n_embd, n_embd)),
            (p + "ffn_gate_inp.weight", (n_embd, n_expert)),
            (p + "ffn_up_exps.weight", (n_embd, n_ff, n_expert)),
            (p + "ffn_gate_exps.weight", (n_embd, n_ff, n_expert)),
            (p + "ffn_down_exps.weight", (n_ff, n_embd, n_expert)),
        ]
    tensors.append(("output.weight", (n_embd, n_vocab)))
    infos, offset = [], 0
    for name, dims in tensors:
        infos.append(tensor_info(name, dims, int(Q.F16), offset))
        size = 2
        for d in dims:
            size *= d
        offset += size
    kvs = [
        kv_str("general.architecture", "llama"),
        kv_u32("llama.block_count", 2),
        kv_u32("llama.context_length", 4096),
        kv_u32("llama.embedding_length", n_embd),
        kv_u32("llama.feed_forward_length", n_ff),
        kv_u32("llama.attention.head_count", 4),
        kv_u32("llama.attention.head_count_kv", 4),
        kv_u32("llama.expert_count", n_expert),
        kv_u32("llama.expert_used_count", 2),
        kv_u32("llama.vocab_size", n_vocab),
    ]
    path = tmp_path / "moe.gguf"
    data = header(kvs, infos)
    path.write_bytes(data)
    with path.open("r+b") as f:
        f.truncate(len(data) + offset)
    return read_model(path)


def test_moe_reads_only_the_active_experts(tmp_path: Path) -> None:
    model = _moe_model(tmp_path)
    work = model_work(model)
    experts = 3 * 256 * 512 * 8 * 2  # three expert tensors, f16
    assert work.layers[0].expert_bytes == pytest.approx(experts * 2 / 8)
    assert work.layers[0].dense_bytes == (4 * 256 * 256 + 256 * 8) * 2
    assert work.layers[0].expert_macs == pytest.approx(3 * 256 * 512 * 8 * 2 / 8)
    # Experts kept on the CPU (n_cpu_moe) are read there: slower than all on the card.
    plan = estimate(model, LoadSettings(n_ctx=512, n_gpu_layers=-1), [GpuTarget(RTX_4090.name)])
    on_gpu = predict(model, plan, CPU, [RTX_4090]).generation_tps
    experts_on_cpu = predict(model, plan, CPU, [RTX_4090], n_cpu_moe=2).generation_tps
    assert on_gpu is not None and experts_on_cpu is not None
    assert experts_on_cpu < on_gpu


# -- GPU specs -------------------------------------------------------------------


def test_what_if_cards_carry_their_published_specs() -> None:
    assert RTX_4090.memory_bandwidth == 1008e9
    assert RTX_4060.memory_bandwidth == 272e9
    assert all(c.memory_bandwidth and c.fp16_flops for c in WHAT_IF_CARDS)


def test_nvml_gives_a_real_cards_bandwidth_from_bus_width_and_memory_clock() -> None:
    probe = probe_gpus(NvmlStandIn.from_fixture("one_gpu_rtx4060"))
    gpu = probe.gpus[0]
    assert gpu.memory_bandwidth == 128 / 8 * 8501e6 * 2  # 272.0 GB/s, as NVIDIA says
    assert gpu.fp16_flops == RTX_4060.fp16_flops  # the published figure, by name
    older = probe_gpus(NvmlStandIn.from_fixture("one_gpu_wsl_rtx4070")).gpus[0]
    assert older.memory_bandwidth is None  # NVML did not say: unknown, not guessed


# -- compare cards ---------------------------------------------------------------


def test_compare_rows_use_fits_layer_counts(smol: ModelInfo) -> None:
    settings = LoadSettings(n_ctx=8192)
    cards = (*WHAT_IF_CARDS, custom_card(1024**3))
    rows = compare_cards(smol, settings, CPU, cards, margin=512 * 1024**2)
    for row, card in zip(rows, cards, strict=True):
        expected = fit(
            smol, settings, gpu_free=card.usable_bytes, margin=512 * 1024**2, gpu_name=card.name
        )
        assert row.gpu_layers == expected.n_gpu_layers
    assert rows[-1].gpu_layers < smol.n_layer + 1  # 1 GiB less the margin: not all of it
    text = to_csv(rows, cpu_only_tps=rows[0].prediction.cpu_only_generation_tps)
    lines = text.splitlines()
    assert lines[0].startswith("card,memory_bytes,gpu_layers")
    assert lines[1].startswith("CPU only,")
    assert lines[2].split(",")[2] == str(rows[0].gpu_layers)


# -- the CLI ---------------------------------------------------------------------


def _run(args: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(args)
    return code, out.getvalue()


def test_estimate_json_carries_the_prediction_for_the_threads_given(
    smollm2_path: Path, smol: ModelInfo
) -> None:
    code, text = _run(
        ["estimate", str(smollm2_path), "--json", "--threads", "1", "--gpu-layers", "0"]
    )
    assert code == 0
    predicted = json.loads(text)["predicted"]
    assert set(predicted) == {"generation_tps", "prompt_tps", "cpu_only_generation_tps"}
    work = model_work(smol)
    cpu = cpu_speed(work.main_type, ThreadCounts(1, 1), work.head_dim)
    plan = estimate(smol, LoadSettings(n_ctx=json.loads(text)["settings"]["n_ctx"]))
    assert predicted["cpu_only_generation_tps"] == round(
        predict(smol, plan, cpu).cpu_only_generation_tps, 2
    )
    code, text = _run(
        ["estimate", str(smollm2_path), "--json", "--card", RTX_4060.name, "--gpu-layers", "31"]
    )
    on_card = json.loads(text)["predicted"]
    assert on_card["generation_tps"] > on_card["cpu_only_generation_tps"]


def test_bench_command_stores_one_row_per_setting(smollm2_path: Path) -> None:
    code, text = _run(
        [
            "bench",
            str(smollm2_path),
            "--gpu-layers",
            "0,31",
            "--ctx",
            "256",
            "--threads",
            "1",
            "--repetitions",
            "1",
            "--json",
        ]
    )
    assert code == 0
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["gpu_layers"] for r in rows] == [0, 31]
    for r in rows:
        assert set(r) == {
            "gpu_layers",
            "n_cpu_moe",
            "threads",
            "ctx",
            "prompt_tps",
            "generation_tps",
        }
        assert (r["threads"], r["ctx"], r["n_cpu_moe"]) == (1, 256, 0)
        assert r["prompt_tps"] > 0 and r["generation_tps"] > 0
    results = SpeedResults()
    stored = results.for_model(smollm2_path, hardware_key(), ctx=256)
    results.close()
    assert [s.result.as_dict() for s in stored] == rows


def test_bad_gpu_layers_are_refused_in_words(
    smollm2_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", str(smollm2_path), "--gpu-layers", "0,99"]) == 2
    assert "between 0 and 31" in capsys.readouterr().err
    assert sweep_layers(30) == [0, 6, 12, 19, 25, 31]


def test_a_cancelled_benchmark_leaves_no_half_row(smollm2_path: Path) -> None:
    cancel = threading.Event()
    results = SpeedResults()
    seen: list[str] = []

    def progress(done: int, total: int, text: str) -> None:
        seen.append(text)
        if text.startswith("31 GPU layers: generating"):
            cancel.set()  # mid-way through the second setting

    settings = LoadSettings(n_ctx=256, n_threads=1)
    stored = 0
    with pytest.raises(BenchCancelled):
        for result in run_bench(
            smollm2_path, settings, [0, 31], repetitions=1, progress=progress, cancel=cancel
        ):
            results.add(smollm2_path, "test", result)
            stored += 1
    assert stored == 1 and results.count() == 1
    assert [s.result.gpu_layers for s in results.for_model(smollm2_path, "test")] == [0]
    results.close()
    assert threads_for(1).generation == 1
    assert predict_module.GENERATED_TOKENS == 128


def test_weights_past_the_last_level_cache_read_at_rams_rate() -> None:
    """A model whose weights fit the CPU's cache streams at the cache's rate; a larger one
    at RAM's, which the probe measures apart where its usual run fits the cache."""
    cpu = CpuSpeed(
        ThreadCounts(2, 2), read_bytes_per_s=20e9, flops=1e11,
        ram_read_bytes_per_s=15e9, cache_bytes=480 * 2**20,
    )  # fmt: skip
    assert cpu.read_rate(100 * 2**20) == 20e9
    assert cpu.read_rate(600 * 2**20) == 15e9
    unknown = CpuSpeed(ThreadCounts(2, 2), read_bytes_per_s=20e9, flops=1e11)
    assert unknown.read_rate(600 * 2**20) == 20e9
    rates = measure_kernels(int(Q.Q8_0), 1)
    assert 0 < rates.ram_read_bytes_per_s <= rates.read_bytes_per_s


def _spawned(process: psutil.Process) -> bool:
    """Whether `process` is a multiprocessing "spawn" child (the probe's)."""
    try:
        return "spawn_main" in " ".join(process.cmdline())
    except psutil.Error:  # ended meanwhile
        return False


def test_the_app_measures_in_a_child_process_and_keeps_the_same_figures(
    fresh_memo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apart=True` (the app's way): the probe runs in a child, so a crash there cannot take
    the app down; its figures are kept like an in-process measurement's."""
    threads = ThreadCounts(1, 1)
    speed = cpu_speed(int(Q.Q4_1), threads, 64, apart=True)
    assert speed.read_bytes_per_s > 1e8 and speed.flops > 1e8 and speed.attention_flash > 0
    kept = json.loads(cache_path().read_text(encoding="utf-8"))["rates"]
    assert kept[f"{int(Q.Q4_1)}/1"][0] == speed.read_bytes_per_s
    # A probe whose process dies (killed here while it measures, as a crash in ggml would
    # end it) ends only that child: this process gets a ProbeError in words.
    from lmdesk.core.speed.ggml_probe import ProbeError

    before = {child.pid for child in psutil.Process().children()}
    failed: list[str] = []

    def measure() -> None:
        try:
            cpu_speed_module._measure_apart(f"{int(Q.Q4_1)}/1")
        except ProbeError as exc:
            failed.append(str(exc))

    worker = threading.Thread(target=measure)
    worker.start()
    deadline = time.monotonic() + 30
    probes: list[psutil.Process] = []
    while not probes and time.monotonic() < deadline:
        probes = [c for c in psutil.Process().children() if c.pid not in before and _spawned(c)]
    assert len(probes) == 1, "the probe's child process never started"
    probes[0].kill()
    worker.join(30)
    assert failed == ["the CPU probe's process ended (status -9)"]
    # A probe that fails in Python says why, in words.
    with pytest.raises(ProbeError, match="invalid literal"):
        cpu_speed_module._measure_apart("nonsense/1")
