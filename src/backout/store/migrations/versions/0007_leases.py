"""leases, and one open incident per subject

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPEN = "status != 'resolved'"

# A store from before the constraint may hold several open incidents of one subject: the
# newest stays open, the older ones are resolved with a timeline line saying why.
_SUPERSEDED = """
    SELECT older.id, newest.id FROM incidents AS older
    JOIN incidents AS newest
      ON newest.environment = older.environment AND newest.service = older.service
     AND newest.status != 'resolved' AND newest.id > older.id
    WHERE older.status != 'resolved'
      AND NOT EXISTS (
        SELECT 1 FROM incidents AS newer
        WHERE newer.environment = older.environment AND newer.service = older.service
          AND newer.status != 'resolved' AND newer.id > newest.id)
"""


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("fencing", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    _resolve_superseded_incidents()
    op.create_index(
        "uq_incidents_open_per_subject",
        "incidents",
        ["environment", "service"],
        unique=True,
        sqlite_where=sa.text(_OPEN),
        postgresql_where=sa.text(_OPEN),
    )


def _resolve_superseded_incidents() -> None:
    connection = op.get_bind()
    now = sa.func.now() if connection.dialect.name == "postgresql" else sa.func.datetime("now")
    moment = connection.execute(sa.select(now)).scalar_one()
    for older, newest in connection.execute(sa.text(_SUPERSEDED)).all():
        connection.execute(
            sa.text("UPDATE incidents SET status = 'resolved', resolved_at = :at WHERE id = :id"),
            {"at": moment, "id": older},
        )
        connection.execute(
            sa.text(
                "INSERT INTO timeline_events (incident_id, at, actor, kind, message) "
                "VALUES (:id, :at, 'backout', 'resolved', :message)"
            ),
            {
                "id": older,
                "at": moment,
                "message": f"resolved on upgrade: incident {newest} of the same subject is "
                "open, and a subject has one open incident at a time",
            },
        )


def downgrade() -> None:
    op.drop_index("uq_incidents_open_per_subject", table_name="incidents")
    op.drop_table("leases")
