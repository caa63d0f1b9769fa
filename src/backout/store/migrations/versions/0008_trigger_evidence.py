"""what a trigger saw: incident categories, evidence on the timeline, release advisories

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Incidents opened before categories were all a trigger's error rate or a person's call.
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("category", sa.String(length=16), nullable=False, server_default="errors")
        )
    with op.batch_alter_table("timeline_events") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("advisories", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("advisories")
    with op.batch_alter_table("timeline_events") as batch:
        batch.drop_column("evidence")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("category")
