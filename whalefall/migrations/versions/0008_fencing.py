"""fencing and accounting: the lease's epoch, each run's epoch, fire times coalesced into a run

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
