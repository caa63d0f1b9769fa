"""A static site's build as the `static-s3` driver sees it: its files with their MD5 (the ETag
S3 gives an object uploaded in one PUT), size and content type, and the manifest of a release
copy — the list written last, so that a copy whose upload was cut short never looks whole.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from backout.errors import DriverError

BACKOUT_FOLDER = ".backout"
"""backout's own objects beside a site (a release's manifest, the live marker); never synced,
never deleted by a sync."""

# Types a web server must send right and that mimetypes gets wrong or not at all on some systems.
_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".webmanifest": "application/manifest+json",
}
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BuildFile:
    md5: str  # hex, as S3's ETag of a one-part upload (without its quotes)
    size: int
    content_type: str


@dataclass(frozen=True)
class Manifest:
    """The files of one release copy, by their path relative to the build folder ("a/b.css")."""

    version: str
    files: dict[str, BuildFile]

    def to_json(self) -> str:
        files = {path: asdict(entry) for path, entry in sorted(self.files.items())}
        return json.dumps({"version": self.version, "files": files}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        try:
            data = json.loads(text)
            files = {path: BuildFile(**entry) for path, entry in data["files"].items()}
            return cls(str(data["version"]), files)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise DriverError(
                f"the release manifest {where} cannot be read: {error!r}",
                hint="delete it: the next prepare uploads the build again",
            ) from None

    def in_upload_order(self) -> list[str]:
        """Pages last: a new page never refers to an asset that is not there yet."""
        return sorted(self.files, key=lambda path: (content_type(path) == "text/html", path))


def content_type(path: str) -> str:
    """The Content-Type a file is served with, by its extension."""
    suffix = os.path.splitext(path)[1].lower()
    known = _CONTENT_TYPES.get(suffix)
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or _DEFAULT_CONTENT_TYPE


def scan_build(folder: Path, version: str) -> Manifest:
    """The manifest of the build in `folder` (every regular file, following no symlinked
    folder; `.backout/` left out)."""
    files: dict[str, BuildFile] = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != BACKOUT_FOLDER or Path(root) != folder)
        for name in sorted(names):
            path = Path(root) / name
            if not path.is_file():
                continue
            relative = path.relative_to(folder).as_posix()
            files[relative] = BuildFile(_md5(path), path.stat().st_size, content_type(relative))
    if not files:
        raise DriverError(f"the build of {version} in {folder} has no files")
    return Manifest(version, files)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
