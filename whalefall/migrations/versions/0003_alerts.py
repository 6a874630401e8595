"""alerts: channels, deliveries, each job's alert state, maintenance windows; runs by finish time

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import whalefall.models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_channels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("url_masked", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_alert_channels_name")),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("event", sa.String(length=24), nullable=False),
        sa.Column(
            "job_id",
            sa.String(length=64)
            .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mariadb")
            .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mysql"),
            nullable=True,
        ),
        sa.Column("run_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column(
            "body",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mariadb").with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "body_markdown",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mariadb").with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=False,
        ),
        sa.Column(
            "facts",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mariadb").with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=False,
        ),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.Column("finished_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alert_deliveries_dedupe_key")),
    )
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_alert_deliveries_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_alert_deliveries_job_id_id", ["job_id", "id"], unique=False)
        batch_op.create_index(
            "ix_alert_deliveries_status_next_attempt_at", ["status", "next_attempt_at"], unique=False
        )

    op.create_table(
        "alert_job_state",
        sa.Column(
            "job_id",
            sa.String(length=64)
            .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mariadb")
            .with_variant(mysql.VARCHAR(charset="utf8mb4", collation="utf8mb4_bin", length=64), "mysql"),
            nullable=False,
        ),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("failure_alerted", sa.Boolean(), nullable=False),
        sa.Column("last_sent_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("last_run_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_alert_job_state")),
    )
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("starts_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.Column("ends_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column(
            "scope_values",
            sa.JSON().with_variant(mysql.JSON(), "mariadb").with_variant(mysql.JSON(), "mysql"),
            nullable=False,
        ),
        sa.Column("hold_runs", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", whalefall.models.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", whalefall.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partial", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_runs_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_runs_status_finished_at", ["status", "finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_status_finished_at")
        batch_op.drop_index("ix_runs_finished_at")
        batch_op.drop_column("partial")

    op.drop_table("maintenance_windows")
    op.drop_table("alert_job_state")
    with op.batch_alter_table("alert_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_deliveries_status_next_attempt_at")
        batch_op.drop_index("ix_alert_deliveries_job_id_id")
        batch_op.drop_index("ix_alert_deliveries_created_at")

    op.drop_table("alert_deliveries")
    op.drop_table("alert_channels")
