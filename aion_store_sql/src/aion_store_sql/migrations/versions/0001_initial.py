"""Initial schema: events, stream heads, workflows, search attributes, timers.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

# Written out, not imported from aion_store_sql.schema: a revision is the
# schema as it was at this revision, whatever the tables become later.
ID = sa.String().with_variant(sa.String(collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables of schema version 1."""
    op.create_table(
        "aion_stream_heads",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_aion_stream_heads"),
    )
    op.create_table(
        "aion_events",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "seq", name="pk_aion_events"),
    )
    op.create_table(
        "aion_workflows",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("workflow_type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("task_queue", sa.String(), nullable=False),
        sa.Column("start_time", TIMESTAMP, nullable=False),
        sa.Column("close_time", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("parent_workflow_id", ID, nullable=True),
        sa.Column("parent_run_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_aion_workflows"),
    )
    for name, columns in [
        ("ix_aion_workflows_start_time_workflow_id", ["start_time", "workflow_id"]),
        ("ix_aion_workflows_status_workflow_id", ["status", "workflow_id"]),
        ("ix_aion_workflows_workflow_type", ["workflow_type"]),
        ("ix_aion_workflows_parent_workflow_id", ["parent_workflow_id"]),
    ]:
        op.create_index(name, "aion_workflows", columns)
    op.create_table(
        "aion_search_attributes",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("text_value", sa.String(), nullable=True),
        sa.Column("int_value", sa.BigInteger(), nullable=True),
        sa.Column("float_value", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("workflow_id", "name", name="pk_aion_search_attributes"),
    )
    for column in ("text_value", "int_value", "float_value"):
        op.create_index(
            f"ix_aion_search_attributes_name_{column}", "aion_search_attributes", ["name", column]
        )
    op.create_table(
        "aion_timers",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("timer_id", sa.BigInteger(), nullable=False),
        sa.Column("fire_at", TIMESTAMP, nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("workflow_id", "run_id", "timer_id", name="pk_aion_timers"),
    )
    op.create_index(
        "ix_aion_timers_fire_at_workflow_id_run_id_timer_id",
        "aion_timers",
        ["fire_at", "workflow_id", "run_id", "timer_id"],
    )


def downgrade() -> None:
    """Drop every table of schema version 1 (and its data)."""
    for table in (
        "aion_timers",
        "aion_search_attributes",
        "aion_workflows",
        "aion_events",
        "aion_stream_heads",
    ):
        op.drop_table(table)
