"""`backout db copies` / `backout db remove-copy`: the restored copies runs left beside the data.

A copy lives until a person removes it: a restore beside the live data is for the team to read
from, and nothing knows when they are done. Removing one stops its side cluster (and removes
its socket folder) or drops its database; never while its run is still going. The data as it
was before an in-place restore (`kept database`) goes only when asked for by name (`kept`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backout.audit import audit
from backout.db import copies
from backout.db.cluster import os_user_for
from backout.errors import NotFoundError, RefusedError
from backout.runs.records import TERMINAL
from backout.runtime import Runtime
from backout.store import Run


@dataclass(frozen=True)
class CopyView:
    database: str
    run_id: int
    run_state: str | None  # None: no such run in this store
    kind: str
    where: str
    port: int | None
    running: bool
    size_bytes: int
    created_at: str | None
    age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_copies(runtime: Runtime, name: str) -> list[CopyView]:
    """Every restored copy of database `name`: side clusters, then databases, by run."""
    found = [*copies.side_clusters(_restores(runtime, name))]
    found += copies.restored_databases(runtime.database(name))
    runs = _runs(runtime, {c.run_id for c in found})
    now = runtime.clock.now()
    views = []
    for copy in found:
        run = runs.get(copy.run_id)
        created = (run.started_at or run.created_at) if run else copy.created_at
        views.append(
            CopyView(
                database=name,
                run_id=copy.run_id,
                run_state=run.state if run else None,
                kind=copy.kind,
                where=copy.where,
                port=copy.port,
                running=copy.running,
                size_bytes=copy.size_bytes,
                created_at=_aware(created).isoformat() if created else None,
                age_s=round((now - _aware(created)).total_seconds(), 1) if created else None,
            )
        )
    return views


def remove_copy(
    runtime: Runtime, name: str, run_id: int, *, kept: bool, actor: str
) -> list[CopyView]:
    """Stop and remove the copies run `run_id` left (the kept database only with `kept`)."""
    present = [c for c in list_copies(runtime, name) if c.run_id == run_id]
    if not present:
        runs = sorted({c.run_id for c in list_copies(runtime, name)})
        raise NotFoundError(
            f"run {run_id} left no restored copy of {name!r}",
            hint=f"runs with copies: {', '.join(map(str, runs)) or '(none)'}",
        )
    if present[0].run_state is not None and present[0].run_state not in TERMINAL:
        raise RefusedError(
            f"run {run_id} is {present[0].run_state}: its copy is still in use",
            hint=f"let it end, or abort it: backout abort {run_id}",
        )
    chosen = [c for c in present if kept or c.kind != "kept database"]
    if not chosen:
        raise RefusedError(
            f"run {run_id} left only the data as it was before its in-place restore",
            hint="it is removed only when named: --kept",
        )
    for copy in chosen:
        _remove(runtime, name, copy)
    with runtime.store.session() as session:
        audit(
            session,
            actor,
            "db.copy.removed",
            name,
            run_id=run_id,
            removed=[c.where for c in chosen],
        )
    return chosen


def _remove(runtime: Runtime, name: str, copy: CopyView) -> None:
    if copy.kind == "side cluster":
        cluster = runtime.config.database(name).cluster
        if cluster is None:  # pragma: no cover - a side cluster exists only with a cluster
            raise RefusedError(f"databases.{name}.cluster is needed to stop a side cluster")
        owner = os_user_for(runtime.config.resolve_path(cluster.data_dir), cluster.os_user)
        copies.remove_side_cluster(Path(copy.where), Path(cluster.bindir), owner)
    else:
        copies.drop_database(runtime.database(name), copy.where)


def _restores(runtime: Runtime, name: str) -> Path:
    return runtime.config.state_dir / "restores" / name


def _runs(runtime: Runtime, ids: set[int]) -> dict[int, Run]:
    if not ids:
        return {}
    with runtime.store.session() as session:
        return {run.id: run for run in (session.get(Run, run_id) for run_id in ids) if run}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
