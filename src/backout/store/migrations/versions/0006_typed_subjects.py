"""typed subjects: what a run acts on, each with its own lock; the subject of each step

Revision ID: 0006
Revises: 0005

Runs and incidents named their subject in one string (`backend`, `db:main`, `flag:waitlist`).
Now a run's subjects are rows (`run_subjects`: kind, name, and the versions a release plan
moves a service between), locks are per typed subject (`subject_locks`, replacing
`service_locks`), and a step says which subject it acts on. The labels kept on runs and
incidents become `database:main` for `db:main`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD_PREFIXES = (("db:", "database"), ("flag:", "flag"))


def _typed(label: str) -> tuple[str, str]:
    for prefix, kind in _OLD_PREFIXES:
        if label.startswith(prefix):
            return kind, label[len(prefix) :]
    return "service", label


def _new_label(label: str) -> str:
    kind, name = _typed(label)
    return name if kind == "service" else f"{kind}:{name}"


def upgrade() -> None:
    op.create_table(
        "run_subjects",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_name", sa.String(length=128), nullable=False),
        sa.Column("from_version", sa.String(length=128), nullable=True),
        sa.Column("target_version", sa.String(length=256), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "position"),
    )
    op.create_table(
        "subject_locks",
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject_name", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("environment", "subject_kind", "subject_name"),
    )
    op.create_index("ix_subject_locks_run_id", "subject_locks", ["run_id"])
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("subject_name", sa.String(length=128), nullable=True))

    connection = op.get_bind()
    runs = connection.execute(sa.text("SELECT id, service FROM runs")).all()
    for run_id, label in runs:
        kind, name = _typed(label)
        connection.execute(
            sa.text(
                "INSERT INTO run_subjects (run_id, position, subject_kind, subject_name) "
                "VALUES (:run_id, 1, :kind, :name)"
            ),
            {"run_id": run_id, "kind": kind, "name": name},
        )
        connection.execute(
            sa.text(
                "UPDATE steps SET subject_kind = :kind, subject_name = :name WHERE run_id = :run_id"
            ),
            {"run_id": run_id, "kind": kind, "name": name},
        )
        connection.execute(
            sa.text("UPDATE runs SET service = :label WHERE id = :run_id"),
            {"run_id": run_id, "label": _new_label(label)},
        )
    for incident_id, label in connection.execute(sa.text("SELECT id, service FROM incidents")):
        connection.execute(
            sa.text("UPDATE incidents SET service = :label WHERE id = :id"),
            {"id": incident_id, "label": _new_label(label)},
        )
    locks = connection.execute(
        sa.text("SELECT environment, service, run_id, acquired_at FROM service_locks")
    ).all()
    for environment, label, run_id, acquired_at in locks:
        kind, name = _typed(label)
        connection.execute(
            sa.text(
                "INSERT INTO subject_locks "
                "(environment, subject_kind, subject_name, run_id, acquired_at) "
                "VALUES (:environment, :kind, :name, :run_id, :acquired_at)"
            ),
            {
                "environment": environment,
                "kind": kind,
                "name": name,
                "run_id": run_id,
                "acquired_at": acquired_at,
            },
        )
    op.drop_table("service_locks")


def downgrade() -> None:
    op.create_table(
        "service_locks",
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("environment", "service"),
    )
    connection = op.get_bind()
    old_prefix = {"database": "db:", "flag": "flag:", "service": ""}
    locks = connection.execute(
        sa.text(
            "SELECT environment, subject_kind, subject_name, run_id, acquired_at FROM subject_locks"
        )
    ).all()
    for environment, kind, name, run_id, acquired_at in locks:
        connection.execute(
            sa.text(
                "INSERT INTO service_locks (environment, service, run_id, acquired_at) "
                "VALUES (:environment, :service, :run_id, :acquired_at)"
            ),
            {
                "environment": environment,
                "service": old_prefix.get(kind, f"{kind}:") + name,
                "run_id": run_id,
                "acquired_at": acquired_at,
            },
        )
    for table in ("runs", "incidents"):
        for kind, prefix in (("database", "db:"), ("flag", "flag:")):
            connection.execute(
                sa.text(
                    f"UPDATE {table} SET service = :prefix || substr(service, :cut) "  # noqa: S608 - fixed names
                    "WHERE service LIKE :pattern"
                ),
                {"prefix": prefix, "cut": len(kind) + 2, "pattern": f"{kind}:%"},
            )
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_column("subject_name")
        batch_op.drop_column("subject_kind")
    op.drop_index("ix_subject_locks_run_id", table_name="subject_locks")
    op.drop_table("subject_locks")
    op.drop_table("run_subjects")
