"""scheduler: escalations, notifications, improvements, notices (issue 5)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _outbox_columns() -> list[sa.Column]:
    """Columns shared by both outboxes (staff notifications and customer notices)."""
    return [
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=36), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=32), nullable=False),
        sa.Column("deadline", sa.String(length=16), nullable=False),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fire_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("notify", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_escalations_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("ticket_id", "level", "due_at", name=op.f("uq_escalations_ticket_id_level_due_at")),
    )
    op.create_index("ix_escalations_fired_at", "escalations", ["fired_at"], unique=False)

    op.create_table(
        "daily_digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=False),
        sa.Column("digest_date", sa.Date(), nullable=False),
        sa.Column("open_count", sa.Integer(), nullable=False),
        sa.Column("due_today_count", sa.Integer(), nullable=False),
        sa.Column("breached_count", sa.Integer(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_digests")),
        sa.UniqueConstraint("team", "digest_date", name=op.f("uq_daily_digests_team_digest_date")),
    )

    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *_outbox_columns(),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("sent_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest_id"], ["daily_digests.id"], name=op.f("fk_notification_deliveries_digest_id_daily_digests")
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"], ["escalations.id"], name=op.f("fk_notification_deliveries_escalation_id_escalations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_index(
        "ix_notification_deliveries_escalation", "notification_deliveries", ["escalation_id"], unique=False
    )

    op.create_table(
        "improvements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("branch_ids", sa.JSON(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=64), nullable=True),
        sa.Column("include_category_feedback", sa.Boolean(), nullable=False),
        sa.Column("period_start", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("period_end", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_improvements")),
    )
    op.create_index("ix_improvements_published_at", "improvements", ["published_at"], unique=False)

    op.create_table(
        "improvement_tickets",
        sa.Column("improvement_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("linked_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["improvement_id"], ["improvements.id"], name=op.f("fk_improvement_tickets_improvement_id_improvements")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_improvement_tickets_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("improvement_id", "ticket_id", name=op.f("pk_improvement_tickets")),
    )
    op.create_index("ix_improvement_tickets_ticket", "improvement_tickets", ["ticket_id"], unique=False)

    op.create_table(
        "notice_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("improvement_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        *_outbox_columns(),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.String(length=255), nullable=True),
        sa.Column("sent_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_notice_outbox_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["improvement_id"], ["improvements.id"], name=op.f("fk_notice_outbox_improvement_id_improvements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_outbox")),
        sa.UniqueConstraint(
            "improvement_id", "customer_id", name=op.f("uq_notice_outbox_improvement_id_customer_id")
        ),
    )
    op.create_index("ix_notice_outbox_due", "notice_outbox", ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_notice_outbox_customer", "notice_outbox", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notice_outbox_customer", table_name="notice_outbox")
    op.drop_index("ix_notice_outbox_due", table_name="notice_outbox")
    op.drop_table("notice_outbox")
    op.drop_index("ix_improvement_tickets_ticket", table_name="improvement_tickets")
    op.drop_table("improvement_tickets")
    op.drop_index("ix_improvements_published_at", table_name="improvements")
    op.drop_table("improvements")
    op.drop_index("ix_notification_deliveries_escalation", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_due", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("daily_digests")
    op.drop_index("ix_escalations_fired_at", table_name="escalations")
    op.drop_table("escalations")
