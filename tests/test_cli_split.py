"""`lmdesk estimate/fit --split-mode/--main-gpu` (issue 11): the plan is the estimator's,
row split says this llama.cpp would refuse it, and bad values are one line and status 2."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import lmdesk

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.estimate.row_split import ROW_REFUSED
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings

GiB = 1024**3
COMMON = ("--ctx", "2048", "--vram", "12GiB,8GiB")
TARGETS = [GpuTarget("a", weight=12 * GiB), GpuTarget("b", weight=8 * GiB)]


def _json(*args: str) -> dict:  # type: ignore[type-arg]
    result = lmdesk(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_main_gpu_only_puts_the_layers_on_the_main_gpu(smollm2_path: Path) -> None:
    out = _json("estimate", str(smollm2_path), *COMMON, "--split-mode", "none", "--main-gpu", "1")
    settings = LoadSettings(n_gpu_layers=-1, n_ctx=2048, split_mode="none", main_gpu=1)
    plan = estimate(read_model(smollm2_path), settings, TARGETS)
    assert [d["total"] for d in out["devices"]] == [d.total for d in plan.devices]
    assert out["devices"][1]["total"] == 0 and out["devices"][1]["layers"] == []
    assert len(out["devices"][2]["layers"]) == 31
    assert (out["settings"]["split_mode"], out["settings"]["main_gpu"]) == ("none", 1)
    assert out["refused"] is None


def test_row_is_planned_and_said_to_be_refused(smollm2_path: Path) -> None:
    out = _json("estimate", str(smollm2_path), *COMMON, "--split-mode", "row")
    plan = estimate(
        read_model(smollm2_path),
        LoadSettings(n_gpu_layers=-1, n_ctx=2048, split_mode="row"),
        TARGETS,
    )
    assert [d["weights"] for d in out["devices"]] == [d.weights + d.repack for d in plan.devices]
    assert out["refused"] == ROW_REFUSED
    assert out["verdict"]["fit"] == "no_fit" and out["verdict"]["headline"] == "Will not load"
    text = lmdesk("fit", str(smollm2_path), *COMMON, "--split-mode", "row")
    assert text.returncode == 0 and text.stdout.startswith("Will not load: split by row needs")


def test_bad_split_mode_or_main_gpu_is_one_line(smollm2_path: Path) -> None:
    for args, words in (
        (("--split-mode", "rows"), "invalid choice: 'rows' (choose from 'none', 'layer', 'row')"),
        (("--main-gpu", "-1"), "argument --main-gpu: cannot be negative: -1"),
        (
            ("--main-gpu", "2"),
            "--main-gpu 2: there is no GPU 2 to be the main GPU: the GPUs are 0 to 1",
        ),
    ):
        for command in ("estimate", "fit"):
            result = lmdesk(command, str(smollm2_path), *COMMON, *args)
            assert result.returncode == 2 and result.stdout == ""
            assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
