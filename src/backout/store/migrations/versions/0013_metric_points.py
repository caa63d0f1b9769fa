"""what the triggers judged, point by point: the charts around an incident

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("environment", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("metric_values", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_metric_points_service_at", "metric_points", ["environment", "service", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_metric_points_service_at", table_name="metric_points")
    op.drop_table("metric_points")
