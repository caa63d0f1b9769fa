"""HAProxy's runtime API over its admin stats socket: one command per connection.

`stats socket /run/haproxy/admin.sock mode 600 level admin` in HAProxy's `global` section opens
it. HAProxy answers a command with text and closes the connection; an error is text too
("No such backend.", "Unknown command ..."), so every answer is read whole and checked.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from backout.errors import RouterError

_TIMEOUT_S = 5.0
# HAProxy's answers to a command it refused, as it prints them (2.6).
_REFUSALS = ("No such", "Unknown command", "Permission denied", "Require ", "Invalid ", "Can't ")


@dataclass(frozen=True)
class ServerState:
    """One server of a backend as `show servers state` reports it."""

    name: str
    address: str
    port: int
    op_state: int  # 0 stopped, 1 starting, 2 running, 3 stopping (SRV_ST_*)
    admin_state: int  # bit flags: maint 0x01|0x02|0x04|0x20|0x40, drain 0x08|0x10
    weight: int  # the user weight (srv_uweight)

    @property
    def takes_new_requests(self) -> bool:
        """Running, neither in maintenance nor draining: it gets new requests by its weight."""
        return self.op_state == 2 and self.admin_state == 0

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & 0x67)


class RuntimeApi:
    """The runtime API of one HAProxy, at the unix socket `path`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def command(self, line: str) -> str:
        """Send one command, return HAProxy's whole answer; RouterError if it refused it."""
        answer = self._exchange(line)
        first = answer.strip().splitlines()[0] if answer.strip() else ""
        if first.startswith(_REFUSALS):
            raise RouterError(f"HAProxy refused `{line}`: {answer.strip()}")
        return answer

    def servers(self, backend: str) -> list[ServerState]:
        """The servers of `backend`, in their order of declaration."""
        lines = self.command(f"show servers state {backend}").splitlines()
        header = next((ln[2:].split() for ln in lines if ln.startswith("# ")), None)
        if header is None:
            raise RouterError(f"HAProxy's `show servers state {backend}` has no header line")
        rows = [ln.split() for ln in lines if ln and not ln.startswith("#") and " " in ln]
        return [_server_state(dict(zip(header, row, strict=False))) for row in rows]

    def sessions(self, backend: str) -> dict[str, int]:
        """The requests in flight (scur) of each server of `backend`, from `show stat`."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",") if lines else []
        found: dict[str, int] = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND"):
                found[row["svname"]] = int(row.get("scur") or 0)
        return found

    def _exchange(self, line: str) -> str:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(_TIMEOUT_S)
                conn.connect(str(self.path))
                conn.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
        except FileNotFoundError:
            raise RouterError(
                f"no HAProxy admin socket at {self.path}",
                hint="HAProxy's global section needs: stats socket <path> mode 600 level admin",
                retryable=True,
            ) from None
        except OSError as error:
            raise RouterError(
                f"cannot talk to HAProxy at {self.path}: {error.strerror or error}",
                retryable=True,
            ) from None
        return b"".join(chunks).decode("utf-8", errors="replace")


def _server_state(row: dict[str, str]) -> ServerState:
    try:
        return ServerState(
            name=row["srv_name"],
            address=row["srv_addr"],
            port=int(row["srv_port"]),
            op_state=int(row["srv_op_state"]),
            admin_state=int(row["srv_admin_state"]),
            weight=int(row["srv_uweight"]),
        )
    except (KeyError, ValueError) as error:
        raise RouterError(f"unexpected line in HAProxy's server state: {row} ({error})") from None
