"""console: staff, sign-in sessions, login attempts, corrections, revisits, offline feedback,
ticket assignee and queue indexes (issue 6)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _created_at(name: str = "created_at", nullable: bool = False) -> sa.Column:
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("team", sa.String(length=64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created_at(),
        _created_at("last_login_at", nullable=True),
        sa.CheckConstraint("role IN ('agent', 'manager', 'admin')", name=op.f("ck_staff_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff")),
        sa.UniqueConstraint("username", name=op.f("uq_staff_username")),
    )
    op.create_table(
        "staff_branches",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_staff_branches_branch_id_branches"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_branches_staff_id_staff"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("staff_id", "branch_id", name=op.f("pk_staff_branches")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        _created_at(),
        _created_at("last_seen_at"),
        _created_at("expires_at"),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_staff_sessions_staff_id_staff"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index("ix_staff_sessions_expires", "staff_sessions", ["expires_at"])
    op.create_index("ix_staff_sessions_staff_id", "staff_sessions", ["staff_id"])

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_username", "login_attempts", ["username", "created_at"])
    op.create_index("ix_login_attempts_remote_addr", "login_attempts", ["remote_addr", "created_at"])

    op.create_table(
        "category_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("old_category", sa.String(length=32), nullable=True),
        sa.Column("new_category", sa.String(length=32), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_category_corrections_staff_id_staff")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_category_corrections_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_category_corrections")),
    )
    op.create_index("ix_category_corrections_created", "category_corrections", ["created_at"])
    op.create_index("ix_category_corrections_ticket_id", "category_corrections", ["ticket_id"])

    op.create_table(
        "revisits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        _created_at(),
        sa.CheckConstraint("method IN ('phone', 'visit', 'wechat')", name=op.f("ck_revisits_method")),
        sa.CheckConstraint("satisfaction IS NULL OR (satisfaction >= 1 AND satisfaction <= 5)",
                           name=op.f("ck_revisits_satisfaction")),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], name=op.f("fk_revisits_staff_id_staff")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_revisits_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisits")),
    )
    op.create_index("ix_revisits_ticket", "revisits", ["ticket_id", "created_at"])
    op.create_index("ix_revisits_created", "revisits", ["created_at"])

    op.create_table(
        "offline_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("contact_name", sa.String(length=64), nullable=True),
        sa.Column("contact_phone", sa.String(length=32), nullable=True),
        sa.Column("entered_by_id", sa.Integer(), nullable=False),
        _created_at(),
        sa.CheckConstraint("source IN ('box', 'walk_in', 'phone')", name=op.f("ck_offline_feedback_source")),
        sa.ForeignKeyConstraint(["entered_by_id"], ["staff.id"],
                                name=op.f("fk_offline_feedback_entered_by_id_staff")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_offline_feedback_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_feedback")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_offline_feedback_ticket_id")),
    )

    # SQLite cannot add a foreign key to an existing table: batch mode rebuilds `tickets`.
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("assignee_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f("fk_tickets_assignee_id_staff"), "staff", ["assignee_id"], ["id"])
    op.create_index("ix_tickets_team_escalation", "tickets", ["team", "escalation_at", "id"])
    op.create_index("ix_tickets_branch_escalation", "tickets", ["branch_id", "escalation_at", "id"])
    op.create_index("ix_tickets_assignee_escalation", "tickets", ["assignee_id", "escalation_at", "id"])
    op.create_index("ix_tickets_triage_escalation", "tickets", ["needs_triage", "escalation_at", "id"])


def downgrade() -> None:
    for name in ("ix_tickets_triage_escalation", "ix_tickets_assignee_escalation", "ix_tickets_branch_escalation",
                 "ix_tickets_team_escalation"):
        op.drop_index(name, table_name="tickets")
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_constraint(op.f("fk_tickets_assignee_id_staff"), type_="foreignkey")
        batch_op.drop_column("assignee_id")
    op.drop_table("offline_feedback")
    op.drop_index("ix_revisits_created", table_name="revisits")
    op.drop_index("ix_revisits_ticket", table_name="revisits")
    op.drop_table("revisits")
    op.drop_index("ix_category_corrections_ticket_id", table_name="category_corrections")
    op.drop_index("ix_category_corrections_created", table_name="category_corrections")
    op.drop_table("category_corrections")
    op.drop_index("ix_login_attempts_remote_addr", table_name="login_attempts")
    op.drop_index("ix_login_attempts_username", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_staff_sessions_staff_id", table_name="staff_sessions")
    op.drop_index("ix_staff_sessions_expires", table_name="staff_sessions")
    op.drop_table("staff_sessions")
    op.drop_table("staff_branches")
    op.drop_table("staff")
