"""fleet reports: sizes split into data, index and free; the largest tables; instance facts and
disk capacity (SPEC §14)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import whalefall.models.base

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

NAME = (
    sa.String(length=255)
    .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=255), "mariadb")
    .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=255), "mysql")
)


def upgrade() -> None:
    with op.batch_alter_table("instances") as batch:
        batch.add_column(
            sa.Column("server_facts", sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb"), nullable=True)
        )
        batch.add_column(sa.Column("disk_capacity_bytes", sa.BigInteger(), nullable=True))
    # On PostgreSQL database_sizes is partitioned: ADD COLUMN on the parent reaches every partition.
    with op.batch_alter_table("database_sizes") as batch:
        batch.add_column(sa.Column("data_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("index_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("free_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "table_sizes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("database_name", NAME, nullable=False),
        sa.Column("table_name", NAME, nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=True),
        sa.Column("row_estimate", sa.BigInteger(), nullable=True),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("data_bytes", sa.BigInteger(), nullable=True),
        sa.Column("index_bytes", sa.BigInteger(), nullable=True),
        sa.Column("collected_date", sa.Date(), nullable=False),
        sa.Column("previous_total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("previous_date", sa.Date(), nullable=True),
        sa.Column("collected_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_table_sizes_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_table_sizes")),
        sa.UniqueConstraint("instance_id", "database_name", "table_name", name="uq_table_sizes_key"),
    )


def downgrade() -> None:
    op.drop_table("table_sizes")
    with op.batch_alter_table("database_sizes") as batch:
        batch.drop_column("free_bytes")
        batch.drop_column("index_bytes")
        batch.drop_column("data_bytes")
    with op.batch_alter_table("instances") as batch:
        batch.drop_column("disk_capacity_bytes")
        batch.drop_column("server_facts")
