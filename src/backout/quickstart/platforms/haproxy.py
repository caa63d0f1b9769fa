"""A real HAProxy in front of the backend's two slots, as docs/platforms.md tells users to
configure it: an admin socket for backout's router, a server-state file that a reload keeps."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from backout.quickstart.platforms._children import Child, require_program, start_child

INSTALL = "install HAProxy: apt-get install haproxy (Debian's package, 2.6 or newer)"
BACKEND = "badminton_api"


def backend_definition(backend: str, slot_ports: list[int]) -> str:
    """The backend section backout's haproxy router expects (docs/platforms.md, haproxy)."""
    servers = "\n".join(
        f"    server slot{i} 127.0.0.1:{port} check inter 200ms fall 2 rise 2"
        for i, port in enumerate(slot_ports, start=1)
    )
    return f"""\
backend {backend}
    balance roundrobin
    option httpchk GET /health
    load-server-state-from-file global
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
{servers}
"""


@dataclass(frozen=True)
class HaproxySite:
    """Where HAProxy listens and keeps its files."""

    folder: Path
    frontend_port: int
    slot_ports: list[int]
    backend: str = BACKEND

    @property
    def admin_socket(self) -> Path:
        return self.folder / "admin.sock"

    @property
    def state_file(self) -> Path:
        return self.folder / "server-state"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    def config(self) -> str:
        return f"""\
global
    stats socket {self.admin_socket} mode 600 level admin
    server-state-file {self.state_file}

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    timeout queue 10s

frontend web
    bind 127.0.0.1:{self.frontend_port}
    default_backend {self.backend}

{backend_definition(self.backend, self.slot_ports)}"""


def start_haproxy(site: HaproxySite) -> Child:
    """HAProxy in the foreground (`-db`) from the site's config, once its admin socket answers."""
    program = require_program("haproxy", INSTALL)
    site.folder.mkdir(parents=True, exist_ok=True)
    config = site.folder / "haproxy.cfg"
    config.write_text(site.config(), encoding="utf-8")
    return start_child(
        "HAProxy",
        [program, "-db", "-f", str(config)],
        site.folder / "haproxy.log",
        lambda: _answers(site.admin_socket),
    )


def _answers(path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(path))
    except OSError:
        return False
    return True
