"""Leases in the state store: who may act on a named thing, until when, and with which fencing.

A lease is a row of `leases` (name, holder, fencing, expires_at), changed only by
compare-and-set statements, so that among several controllers sharing one PostgreSQL (or
processes sharing one SQLite file) one at a time holds it:

- `acquire` takes a lease that is free, expired, or held by a process of this node that is
  gone; each change of hands adds one to its fencing number. Re-acquiring a lease one still
  holds renews it and keeps the number.
- `renew` pushes the expiry on while the holder and fencing number are still the row's; a
  lease that expired but that no one took since is still its holder's.
- `hold` is the fence: called first in a transaction that records something done under the
  lease, it locks the row and refuses (FencedError) when another holder has taken over — so a
  paused or cut-off process can no longer record anything once it lost its lease.
- `release` frees it (the fencing number stays, so it only ever grows).

Expiry is computed by the database's clock (`clock_timestamp()` on PostgreSQL, `julianday`
on SQLite), never by a client's, and stored as seconds since the epoch. A holder names its
node, process and process start time (`node:pid:ticks`); a holder of this node whose process
is gone is known dead at once (a CLI rollback killed by -9 is resumable at once), one of
another node only by its lease expiring. `BACKOUT_NODE` names the node (default: the host
name); machines sharing a store must have different ones.

Defaults: a lease lasts `DEFAULT_LEASE_S` (10 s) and is renewed every `DEFAULT_RENEW_S` (3 s);
`state.lease` and `state.lease_renew` in backout.yaml change them. A holder acts only while
its lease is valid by its own monotonic clock (see `LeaseKeeper.valid`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Float, case, cast, extract, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from backout.errors import BackoutError, FencedError
from backout.store.models import Lease

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 10.0
DEFAULT_RENEW_S = 3.0
NODE_VARIABLE = "BACKOUT_NODE"
_DEAD_STATES = frozenset({"Z", "X"})  # zombie (killed, not yet reaped by its parent), dead
_UNIX_EPOCH_JULIAN_DAY = 2440587.5


@dataclass(frozen=True)
class Grant:
    """A lease as its holder got it: the fencing number every write under it is checked with."""

    name: str
    holder: str
    fencing: int


@dataclass(frozen=True)
class LeaseState:
    """A lease as the store has it now."""

    name: str
    holder: str | None
    fencing: int
    remaining_s: float  # by the database's clock; <= 0 once expired

    @property
    def held(self) -> bool:
        """Someone may be acting under it: a holder, not expired, not known dead."""
        return self.holder is not None and self.remaining_s > 0 and not holder_is_dead(self.holder)


def node_name() -> str:
    return os.environ.get(NODE_VARIABLE) or socket.gethostname()


def process_start_ticks(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot (guards against pid reuse), or None
    when no such process runs any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in _DEAD_STATES:
        return None
    return fields[19]


def this_process() -> str:
    """This process as a lease holder: node, pid and start time."""
    pid = os.getpid()
    return f"{node_name()}:{pid}:{process_start_ticks(pid)}"


def holder_is_dead(holder: str) -> bool:
    """Whether `holder` is a process of this node that is gone; of another node, never known."""
    node, pid, ticks = [*holder.rsplit(":", 2), "", ""][:3]
    if node != node_name() or not pid.isdigit():
        return False
    return process_start_ticks(int(pid)) != ticks


def database_now(session: Session) -> ColumnElement[float]:
    """Seconds since the epoch by the database's clock, as an SQL expression."""
    if session.get_bind().dialect.name == "postgresql":
        # clock_timestamp(), not now(): now() is the start of the transaction.
        return cast(extract("epoch", func.clock_timestamp()), Float)
    return cast((func.julianday("now") - _UNIX_EPOCH_JULIAN_DAY) * 86400.0, Float)


def acquire(session: Session, name: str, holder: str, lease_s: float) -> Grant | None:
    """Take `name` for `holder` for `lease_s` seconds; None when another holder has it."""
    now = database_now(session)
    expires = now + lease_s
    if _insert_if_new(session, name, holder, expires):
        return Grant(name, holder, 1)
    in_time = (Lease.holder == holder) & (Lease.expires_at > now)
    taken = session.execute(
        update(Lease)
        .where(
            Lease.name == name,
            Lease.holder.is_(None) | (Lease.holder == holder) | (Lease.expires_at <= now),
        )
        .values(
            holder=holder,
            # Still ours: the same number; changing hands (even back to us): the next one.
            fencing=case((in_time, Lease.fencing), else_=Lease.fencing + 1),
            expires_at=expires,
        )
        .returning(Lease.fencing)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if taken is not None:
        return Grant(name, holder, taken)
    return _take_from_the_dead(session, name, holder, expires)


def _insert_if_new(session: Session, name: str, holder: str, expires: Any) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Lease)
        .from_select(
            ["name", "holder", "fencing", "expires_at"],
            select(literal(name), literal(holder), literal(1), expires),
        )
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def _take_from_the_dead(session: Session, name: str, holder: str, expires: Any) -> Grant | None:
    state = lease_state(session, name)
    if state is None or state.holder is None or not holder_is_dead(state.holder):
        return None
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == state.holder, Lease.fencing == state.fencing)
        .values(holder=holder, fencing=Lease.fencing + 1, expires_at=expires)
        .returning(Lease.fencing)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    return Grant(name, holder, taken) if taken is not None else None


def renew(session: Session, grant: Grant, lease_s: float) -> bool:
    """Push the expiry `lease_s` seconds on; False when the lease has changed hands."""
    renewed = session.execute(
        _owned(update(Lease), grant)
        .values(expires_at=database_now(session) + lease_s)
        .execution_options(synchronize_session=False)
    )
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def hold(session: Session, grant: Grant) -> None:
    """The fence, first in a transaction that records work done under `grant`: locks the lease
    row until the transaction ends, or raises FencedError when another holder has taken it."""
    held = session.execute(
        _owned(update(Lease), grant)
        .values(fencing=Lease.fencing)  # a write: the row (SQLite: the file) stays ours
        .execution_options(synchronize_session=False)
    )
    if not held.rowcount:  # type: ignore[attr-defined]
        raise fenced(session, grant)


def fenced(session: Session, grant: Grant) -> FencedError:
    state = lease_state(session, grant.name)
    by = f"{state.holder} (fencing {state.fencing})" if state and state.holder else "no one"
    return FencedError(
        f"{grant.name}: this process ({grant.holder}, fencing {grant.fencing}) lost its lease; "
        f"it is held by {by} now, so this process records and does nothing more under it"
    )


def release(session: Session, grant: Grant) -> None:
    """Free the lease if it is still this grant's; the fencing number stays."""
    session.execute(
        _owned(update(Lease), grant)
        .values(holder=None, expires_at=database_now(session))
        .execution_options(synchronize_session=False)
    )


def lease_state(session: Session, name: str) -> LeaseState | None:
    found = lease_states(session, [name])
    return found.get(name)


def lease_states(session: Session, names: list[str]) -> dict[str, LeaseState]:
    """The leases of `names` that exist, by name, with their time left by the database's clock."""
    if not names:
        return {}
    query = select(
        Lease.name, Lease.holder, Lease.fencing, Lease.expires_at - database_now(session)
    ).where(Lease.name.in_(names))
    return {
        name: LeaseState(name, holder, fencing, float(left))
        for name, holder, fencing, left in session.execute(query)
    }


def _owned(statement: Any, grant: Grant) -> Any:
    return statement.where(
        Lease.name == grant.name, Lease.holder == grant.holder, Lease.fencing == grant.fencing
    )


SessionFactory = Callable[[], Any]  # a context manager yielding a Session (Store.session)


class LeaseKeeper:
    """Holds one grant: renews it from a heartbeat thread, and says whether it may still act.

    `valid()` is judged by this process's monotonic clock — the moment before the last
    renewal that succeeded, plus the lease, minus a margin — so that a process that was paused
    (SIGSTOP, a VM frozen, a long GC) knows on waking, before it asks anyone, that it may no
    longer act. Once a renewal finds the lease taken, `lost` is set for good.
    """

    def __init__(
        self,
        sessions: SessionFactory,
        grant: Grant,
        *,
        lease_s: float,
        renew_s: float,
        granted_at: float,
        on_lost: Callable[[FencedError], None] | None = None,
    ) -> None:
        self.grant = grant
        self.lease_s = lease_s
        self.renew_s = renew_s
        self.margin_s = lease_s / 10  # time between checking validity and acting on it
        self.lost = threading.Event()
        self.lost_because: FencedError | None = None
        self._sessions = sessions
        self._valid_until = granted_at + lease_s - self.margin_s
        self._on_lost = on_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{grant.name}", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def valid(self) -> bool:
        return not self.lost.is_set() and time.monotonic() < self._valid_until

    def check(self) -> None:
        """Raise FencedError unless the lease is valid now (before acting under it)."""
        if self.lost_because is not None:
            raise self.lost_because
        if not self.valid():
            raise FencedError(
                f"{self.grant.name}: this process ({self.grant.holder}) has not renewed its "
                f"lease for {self.lease_s - self.margin_s:g}s (paused or cut off from the "
                "store): it acts on nothing more under it"
            )

    def renew_now(self) -> bool:
        """One renewal; False once the lease is lost. A store error is logged and retried at
        the next beat (the lease stays valid until its time is up)."""
        asked_at = time.monotonic()
        try:
            with self._sessions() as session:
                renewed = renew(session, self.grant, self.lease_s)
                error = None if renewed else fenced(session, self.grant)
        except FencedError as error:
            self._lose(error)
            return False
        except (BackoutError, DatabaseError) as trouble:  # the store unreachable, for now
            log.warning("%s: could not renew the lease: %s", self.grant.name, trouble)
            return True
        if error is None:
            self._valid_until = asked_at + self.lease_s - self.margin_s
            return True
        self._lose(error)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _lose(self, error: FencedError) -> None:
        if self.lost.is_set():
            return
        self.lost_because = error
        self.lost.set()
        log.warning("%s", error)
        if self._on_lost is not None:
            self._on_lost(error)

    def _beat(self) -> None:
        while not self._stop.wait(self.renew_s):
            if not self.renew_now():
                return
