"""what a run aims at

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=256), nullable=True))
    op.execute(
        "UPDATE runs SET target = "
        "(SELECT releases.version FROM releases WHERE releases.id = runs.target_release_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("target")
