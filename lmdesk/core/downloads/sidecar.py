"""The JSON sidecar next to a partial download: enough to resume it after any restart.

``bytes_done`` is a checkpoint: the partial file's first ``bytes_done`` bytes were fsynced
before the sidecar was written, so after a crash (or a power cut) the job truncates the
file to it and resumes from there with a ``Range`` request.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

SIDECAR_VERSION = 1


@dataclass
class PartialState:
    repo_id: str
    filename: str
    revision: str
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    commit: str | None = None
    bytes_done: int = 0
    user_paused: bool = False
    error: str | None = None

    def save(self, path: Path) -> None:
        """Write atomically: a crash leaves the old sidecar or the new one, never half."""
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": SIDECAR_VERSION, **asdict(self)}, indent=1).encode()
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                os.write(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> PartialState | None:
        """The saved state, or None if the sidecar is missing, damaged or from elsewhere."""
        try:
            raw: Any = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(raw, dict) or raw.get("version") != SIDECAR_VERSION:
            return None
        known = {f.name for f in fields(cls)}
        try:
            state = cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError:
            return None
        if not isinstance(state.bytes_done, int) or state.bytes_done < 0:
            return None
        return state
