"""recovery point achieved by a restore

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpo_s", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("rpo_objective_s", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("restore_s", sa.Double(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpo_s", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("restore_s", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("restore_s")
        batch_op.drop_column("rpo_s")

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("restore_s")
        batch_op.drop_column("rpo_objective_s")
        batch_op.drop_column("rpo_s")
