"""`backout serve`: the HTTP API (FastAPI), with the watch loop running inside it."""

from backout.web.app import create_app
from backout.web.server import serve

__all__ = ["create_app", "serve"]
