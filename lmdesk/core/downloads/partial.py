"""A job's partial download on disk: the ``.part`` file, its sidecar, the transfer over them.

The `DownloadJob` decides when (and under its lock); a `PartialFile` does the file work
across attempts: look the file up, open a `Transfer` once the rest fits on the disk, keep
the bytes for a resume, discard them, or verify the finished file and install it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from .errors import DownloadError
from .install import check_space, install, verify
from .model import JobSettings
from .paths import Layout
from .sidecar import PartialState
from .source import Source
from .transfer import Transfer

log = logging.getLogger(__name__)


class PartialFile:
    """One file's ``.part`` and sidecar under ``layout``, and the transfer open over them."""

    def __init__(self, layout: Layout, partial: PartialState) -> None:
        self.layout, self.partial = layout, partial
        self.part_path = layout.part_path(partial.repo_id, partial.filename)
        self.sidecar_path = layout.sidecar_path(partial.repo_id, partial.filename)
        self.transfer: Transfer | None = None

    @property
    def received(self) -> int | None:
        """Bytes the open transfer holds (written or buffered); None when none is open."""
        transfer = self.transfer
        return transfer.received if transfer is not None else None

    def look_up(self, source: Source) -> None:
        """Fill in the file's URL, size and sha256; a new version of the file starts over."""
        if source.look_up(self.partial):
            self.close()
            self.partial.bytes_done = 0
        self.partial.save(self.sidecar_path)

    def start_transfer(
        self,
        source: Source,
        settings: JobSettings,
        on_bytes: Callable[[int], None],
        should_stop: Callable[[], bool],
    ) -> Transfer:
        """A new transfer over the partial (not yet opened); NotEnoughSpace if it cannot fit."""
        self.close()
        check_space(self.part_path, self.partial, self.layout.root)
        self.transfer = Transfer(
            self.partial,
            self.part_path,
            self.sidecar_path,
            headers=source.headers(),
            client=source.client(),
            stall_timeout_s=settings.stall_timeout_s,
            checkpoint_bytes=settings.checkpoint_bytes,
            checkpoint_interval_s=settings.checkpoint_interval_s,
            on_bytes=on_bytes,
            should_stop=should_stop,
        )
        return self.transfer

    def interrupt(self) -> None:
        """Unblock the transfer's read, from another thread."""
        transfer = self.transfer
        if transfer is not None:
            transfer.interrupt()

    def close(self) -> None:
        """Close the transfer, recording the bytes it wrote to the partial."""
        transfer, self.transfer = self.transfer, None
        if transfer is not None:
            try:
                transfer.close()
            finally:
                self.partial.bytes_done = transfer.done

    def keep(self, *, stay_open: bool) -> None:
        """Save the progress for a resume; ``stay_open`` spares a resume the re-hashing."""
        if stay_open and self.transfer is not None:
            self.transfer.flush()
            self.transfer.checkpoint()
        else:
            self.close()
            self.partial.save(self.sidecar_path)

    def keep_failed(self, error: str) -> None:
        """After a failure: keep any bytes, ``error`` in their sidecar; else discard the partial."""
        try:
            self.close()
        except Exception:  # already failing: keep the first error
            log.debug(
                "closing %s/%s after a failure",
                self.partial.repo_id,
                self.partial.filename,
                exc_info=True,
            )
        if self.part_path.exists() and self.part_path.stat().st_size > 0:
            self.partial.error = error  # kept, so a restart shows it and Retry resumes
            with contextlib.suppress(OSError):
                self.partial.save(self.sidecar_path)
        else:
            self.discard()  # nothing worth keeping

    def discard(self) -> None:
        """Delete the partial and its sidecar: the next attempt starts from byte 0."""
        self.close()
        self.part_path.unlink(missing_ok=True)
        self.sidecar_path.unlink(missing_ok=True)
        self.layout.prune_empty_dirs(self.part_path)
        self.partial.bytes_done = 0

    def install(self, final_path: Path, site: str) -> None:
        """Check the sha256 ``site`` lists, then move the file into the library atomically.

        A mismatch discards the partial and raises ChecksumMismatch.
        """
        transfer = self.transfer
        assert transfer is not None
        self.close()
        try:
            verify(self.partial, transfer.sha256(), site)
        except DownloadError:
            self.discard()
            raise
        install(self.part_path, final_path, self.sidecar_path, self.layout)
