"""The build step: copy static/ into dist/ and stamp the release version into the pages.

Run as `python -m badminton.build` from the checkout; it plays the part `npm run build`
plays for a JavaScript front end.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .release import VERSION

ROOT = Path(__file__).resolve().parent.parent
VERSION_MARK = "{{ version }}"


def build(root: Path = ROOT) -> Path:
    """Build into a fresh folder, then swap it in, so dist/ is never half written."""
    source, target = root / "static", root / "dist"
    staging = root / "dist.building"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    for page in staging.rglob("*.html"):
        page.write_text(page.read_text(encoding="utf-8").replace(VERSION_MARK, VERSION), "utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def main() -> int:
    try:
        target = build()
    except OSError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    print(f"built Badminton Group {VERSION} into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
