"""What this build is: its version, read by /health, /version and the build step."""

from __future__ import annotations

VERSION = "1.0.0"
