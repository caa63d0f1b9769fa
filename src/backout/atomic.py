"""Write files so that a crash leaves either the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TextIO


class AtomicFile:
    """A file written under a temporary name in its folder and renamed into place on success.

    It is opened at its first write, so a file never written to is never created; an error
    inside the block leaves the old file (or none) in place.
    """

    def __init__(self, path: Path, *, mode: int = 0o644) -> None:
        self.path = path
        self._mode = mode
        self._handle: TextIO | None = None
        self._temp = ""

    def write(self, text: str) -> None:
        if self._handle is None:
            fd, self._temp = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._handle.write(text)

    def __enter__(self) -> AtomicFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(self, error_type: object, *_: object) -> None:
        if self._handle is None:
            return
        with self._handle:
            if error_type is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
        if error_type is None:
            os.chmod(self._temp, self._mode)
            os.replace(self._temp, self.path)
        else:
            Path(self._temp).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Replace `path` with `text` in one step: fsync'd under a temporary name, then renamed."""
    with AtomicFile(path, mode=mode) as handle:
        handle.write(text)
