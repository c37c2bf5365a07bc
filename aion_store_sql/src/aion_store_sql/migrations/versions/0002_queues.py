"""Flow control: queue placement on workflow rows, queue locks, slots, admissions, dedup ids.

Revision ID: 0002_queues
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_queues"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

# Written out, not imported from aion_store_sql.schema (see 0001_initial).
ID = sa.String().with_variant(sa.String(collation="C"), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the columns and tables of schema version 2."""
    with op.batch_alter_table("aion_workflows") as table:
        table.add_column(sa.Column("priority", sa.BigInteger(), server_default="0", nullable=False))
        table.add_column(sa.Column("partition_key", sa.String(), nullable=True))
        table.add_column(sa.Column("dedup_id", sa.String(), nullable=True))
        table.add_column(sa.Column("ready_at", TIMESTAMP, nullable=True))
        table.add_column(
            sa.Column("queue_limited", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index(
        "ix_aion_workflows_queue_line",
        "aion_workflows",
        ["task_queue", "status", sa.text("priority DESC"), "start_time", "workflow_id"],
    )
    op.create_table(
        "aion_queues",
        sa.Column("name", ID, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_aion_queues"),
    )
    op.create_table(
        "aion_queue_slots",
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("queue", ID, nullable=False),
        sa.Column("partition_key", sa.String(), nullable=True),
        sa.Column("engine_id", sa.String(), nullable=False),
        sa.Column("admitted_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("workflow_id", "run_id", name="pk_aion_queue_slots"),
    )
    op.create_index("ix_aion_queue_slots_queue", "aion_queue_slots", ["queue"])
    op.create_table(
        "aion_queue_admissions",
        sa.Column("queue", ID, nullable=False),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("admitted_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("queue", "workflow_id", "run_id", name="pk_aion_queue_admissions"),
    )
    op.create_index(
        "ix_aion_queue_admissions_queue_admitted_at",
        "aion_queue_admissions",
        ["queue", "admitted_at"],
    )

    op.create_table(
        "aion_queue_dedup",
        sa.Column("queue", ID, nullable=False),
        sa.Column("dedup_id", ID, nullable=False),
        sa.Column("workflow_id", ID, nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("claimed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("queue", "dedup_id", name="pk_aion_queue_dedup"),
    )

    op.create_table(
        "aion_attempt_slots",
        sa.Column("key", ID, nullable=False),
        sa.Column("queue", ID, nullable=False),
        sa.Column("engine_id", sa.String(), nullable=False),
        sa.Column("admitted_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_aion_attempt_slots"),
    )
    op.create_index("ix_aion_attempt_slots_queue", "aion_attempt_slots", ["queue"])
    op.create_table(
        "aion_attempt_admissions",
        sa.Column("queue", ID, nullable=False),
        sa.Column("key", ID, nullable=False),
        sa.Column("admitted_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("queue", "key", name="pk_aion_attempt_admissions"),
    )
    op.create_index(
        "ix_aion_attempt_admissions_queue_admitted_at",
        "aion_attempt_admissions",
        ["queue", "admitted_at"],
    )


def downgrade() -> None:
    """Drop what version 2 added (and its data)."""
    for name in (
        "aion_attempt_admissions",
        "aion_attempt_slots",
        "aion_queue_dedup",
        "aion_queue_admissions",
        "aion_queue_slots",
        "aion_queues",
    ):
        op.drop_table(name)
    op.drop_index("ix_aion_workflows_queue_line", "aion_workflows")
    with op.batch_alter_table("aion_workflows") as table:
        table.drop_column("queue_limited")
        table.drop_column("ready_at")
        table.drop_column("dedup_id")
        table.drop_column("partition_key")
        table.drop_column("priority")
