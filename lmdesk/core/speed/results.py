"""Measured speeds, kept in their own small SQLite file in lmdesk's data folder.

One row per finished setting (model file, hardware, GPU layers, experts on the
CPU, threads, context), written in one transaction, so a cancelled benchmark
leaves no half row. WAL, like the chats; ``PRAGMA user_version`` is the schema
version, and a file from a newer lmdesk is refused rather than misread.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..paths import data_dir
from .bench import BenchResult

DB_FILE = "speed.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY,
    model_path TEXT NOT NULL,
    model_size INTEGER NOT NULL,
    hardware TEXT NOT NULL,
    gpu_layers INTEGER NOT NULL,
    n_cpu_moe INTEGER NOT NULL,
    threads INTEGER NOT NULL,
    ctx INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    generated_tokens INTEGER NOT NULL,
    repetitions INTEGER NOT NULL,
    prompt_tps REAL NOT NULL,
    generation_tps REAL NOT NULL,
    measured_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_model ON results (model_path, model_size, hardware);
"""


class ResultsError(RuntimeError):
    """The results file cannot be used; ``str()`` names it and says why."""


@dataclass(frozen=True)
class StoredResult:
    result: BenchResult
    measured_at: str


def default_path() -> Path:
    return data_dir() / DB_FILE


class SpeedResults:
    """The measured speeds; safe to share between threads (one lock, short transactions)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise ResultsError(
                    f"{self.path} was written by a newer lmdesk (schema {version}); "
                    f"this one reads schema {SCHEMA_VERSION}"
                )
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise ResultsError(f"cannot open the speed results {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def add(self, model_path: Path, hardware: str, result: BenchResult) -> None:
        """Keep one finished setting's result (one transaction: all of it or nothing)."""
        row = (
            str(Path(model_path).resolve()),
            Path(model_path).stat().st_size,
            hardware,
            result.gpu_layers,
            result.n_cpu_moe,
            result.threads,
            result.ctx,
            result.prompt_tokens,
            result.generated_tokens,
            result.repetitions,
            result.prompt_tps,
            result.generation_tps,
            datetime.now(UTC).isoformat(timespec="seconds"),
        )
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO results (model_path, model_size, hardware, gpu_layers,"
                    " n_cpu_moe, threads, ctx, prompt_tokens, generated_tokens, repetitions,"
                    " prompt_tps, generation_tps, measured_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise ResultsError(f"cannot save to {self.path}: {exc}") from exc

    def for_model(
        self, model_path: Path, hardware: str, *, ctx: int | None = None
    ) -> list[StoredResult]:
        """The newest result per setting for this file (same path and size) on `hardware`,
        ordered by GPU layers; only those at context `ctx` when it is given."""
        path = Path(model_path)
        try:
            size = path.stat().st_size
        except OSError:
            return []
        query = (
            "SELECT gpu_layers, n_cpu_moe, threads, ctx, prompt_tps, generation_tps,"
            " repetitions, prompt_tokens, generated_tokens, measured_at FROM results"
            " WHERE model_path = ? AND model_size = ? AND hardware = ?"
            + (" AND ctx = ?" if ctx is not None else "")
            + " ORDER BY id"
        )
        args: tuple[object, ...] = (str(path.resolve()), size, hardware)
        if ctx is not None:
            args += (ctx,)
        with self._lock:
            rows = self._conn.execute(query, args).fetchall()
        newest: dict[tuple[int, int, int, int], StoredResult] = {}
        for r in rows:
            result = BenchResult(
                gpu_layers=r[0],
                n_cpu_moe=r[1],
                threads=r[2],
                ctx=r[3],
                prompt_tps=r[4],
                generation_tps=r[5],
                repetitions=r[6],
                prompt_tokens=r[7],
                generated_tokens=r[8],
            )
            newest[(r[0], r[1], r[2], r[3])] = StoredResult(result, r[9])
        return sorted(newest.values(), key=lambda s: (s.result.gpu_layers, s.result.n_cpu_moe))

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])


def hardware_key(gpu_names: tuple[str, ...] = ()) -> str:
    """Which hardware a result was measured on: the CPU (and llama.cpp build), the GPUs."""
    from .cpu_speed import machine_key

    return machine_key() + ("".join(f" | {name}" for name in gpu_names) if gpu_names else "")
