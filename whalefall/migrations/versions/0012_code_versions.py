"""code versions: every source a code or shell job had (job_versions), the job's current one
(jobs.code_version) and the one each run executed (runs.code_version) (SPEC §7)

Existing code and shell jobs get their current source as version 1.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import whalefall.models.base

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JOB_ID = (
    sa.String(length=64)
    .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mariadb")
    .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mysql")
)


def upgrade() -> None:
    op.create_table(
        "job_versions",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("job_id", JOB_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb"), nullable=True),
        sa.Column("shell", sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb"), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("restored_from", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_versions")),
        sa.UniqueConstraint("job_id", "number", name="uq_job_versions_job_id_number"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("code_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("code_version", sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO job_versions (job_id, number, kind, code, shell, note, created_by, created_at) "
        "SELECT id, 1, kind, code, shell, '', updated_by, updated_at FROM jobs WHERE kind IN ('code', 'shell')"
    )
    op.execute("UPDATE jobs SET code_version = 1 WHERE kind IN ('code', 'shell')")


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("code_version")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("code_version")
    op.drop_table("job_versions")
