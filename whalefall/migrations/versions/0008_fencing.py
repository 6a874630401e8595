"""fencing and accounting: the lease's epoch, each run's epoch, fire times coalesced into a run;
APScheduler's job store table goes (the engine's store is in memory, rebuilt from ``jobs``)

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import whalefall.models.base

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("apscheduler_jobs") as batch:
        batch.drop_index(batch.f("ix_apscheduler_jobs_next_run_time"))
    op.drop_table("apscheduler_jobs")
    with op.batch_alter_table("leases") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("epoch", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("coalesced", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("coalesced_from", whalefall.models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("coalesced_from")
        batch.drop_column("coalesced")
        batch.drop_column("epoch")
    with op.batch_alter_table("leases") as batch:
        batch.drop_column("epoch")
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index(op.f("ix_apscheduler_jobs_next_run_time"), "apscheduler_jobs", ["next_run_time"])
