"""Download errors; ``str()`` is a sentence a person understands.

Network and hub errors are `lmdesk.core.hub.HubError`s; these are the ones only a
download can hit. ``retryable`` tells the job whether waiting and trying again may help.
"""

from __future__ import annotations


class DownloadError(Exception):
    """A download failed; ``str()`` says what happened and what to do."""

    retryable = False


class UnsafeName(DownloadError):
    """A repository id or file name that would write outside the models folder."""


class NotEnoughSpace(DownloadError):
    """Checked before starting: the disk cannot hold the rest of the file."""


class DiskFull(DownloadError):
    """A write failed for lack of space; the partial file is kept for a later resume."""


class ChecksumMismatch(DownloadError):
    """The finished bytes do not hash to the sha256 the hub published."""


class Stalled(DownloadError):
    """No bytes arrived for the stall timeout; the job reconnects and resumes."""

    retryable = True


class BadResponse(DownloadError):
    """The server sent something inconsistent (a wrong range, too many bytes)."""

    retryable = True


class WriteFailed(DownloadError):
    """The partial file could not be written for a reason other than space."""


class RemoteChanged(DownloadError):
    """The file's ETag is not the one the partial was fetched under: look the file up again.

    A new sha256 means new bytes (start over); the same sha256 means the same bytes behind
    a new tag (the CDN changed, the file moved from LFS to Xet): keep them and resume.
    """

    retryable = True
