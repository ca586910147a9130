"""The JSON sidecar next to a partial download: enough to resume it after any restart.

``bytes_done`` is a checkpoint: the partial file's first ``bytes_done`` bytes were fsynced
before the sidecar was written, so after a crash (or a power cut) the job truncates the
file to it and resumes from there with a ``Range`` request.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SIDECAR_VERSION = 1

# What each field must hold (JSON gives str, int, bool, None); anything else is damage.
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "repo_id": (str,),
    "filename": (str,),
    "revision": (str,),
    "url": (str, type(None)),
    "size": (int, type(None)),
    "sha256": (str, type(None)),
    "etag": (str, type(None)),
    "commit": (str, type(None)),
    "bytes_done": (int,),
    "user_paused": (bool,),
    "error": (str, type(None)),
}


class DamagedSidecar(ValueError):
    """A resume file that cannot be used; ``str()`` names the file and says why."""


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
            return cls.read(path)
        except DamagedSidecar:
            return None

    @classmethod
    def read(cls, path: Path) -> PartialState | None:
        """The saved state; None if the file is gone; `DamagedSidecar` if it cannot be used."""
        try:
            raw: Any = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DamagedSidecar(f"cannot read the resume file {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise DamagedSidecar(f"the resume file {path} is not valid JSON") from exc
        if not isinstance(raw, dict) or raw.get("version") != SIDECAR_VERSION:
            raise DamagedSidecar(f"the resume file {path} is not one this lmdesk wrote")
        values = {k: v for k, v in raw.items() if k in _FIELD_TYPES}
        for name, kinds in _FIELD_TYPES.items():
            value = values.get(name, getattr(cls, name, None))
            if name not in values and name in ("repo_id", "filename", "revision"):
                raise DamagedSidecar(f"the resume file {path} has no {name}")
            if type(value) not in kinds:  # exact: a bool is not a size
                raise DamagedSidecar(
                    f"the resume file {path} is damaged: {name} is {type(value).__name__}"
                )
        state = cls(**values)
        if state.bytes_done < 0 or (state.size is not None and state.size < 0):
            raise DamagedSidecar(f"the resume file {path} is damaged: a negative size")
        return state
