"""conversations, check-ins and surveys (issue 4)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "conversation_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        _utc("updated_at"),
        _utc("expires_at"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_conversation_states_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_states")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_conversation_states_customer_id")),
    )
    op.create_index("ix_conversation_states_expires_at", "conversation_states", ["expires_at"])

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        _utc("visited_at"),
        _utc("survey_due_at", nullable=True),
        sa.Column("survey_status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_visits_branch_id_branches")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_visits_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index("ix_visits_branch_visited", "visits", ["branch_id", "visited_at"])
    op.create_index("ix_visits_customer_visited", "visits", ["customer_id", "visited_at"])
    op.create_index("ix_visits_survey_due", "visits", ["survey_status", "survey_due_at"])

    op.create_table(
        "survey_rounds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("branch_codes", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        _utc("starts_at"),
        _utc("ends_at"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        _utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_rounds")),
        sa.UniqueConstraint("name", name=op.f("uq_survey_rounds_name")),
    )

    op.create_table(
        "survey_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        _utc("invited_at"),
        sa.Column("delivery_status", sa.String(length=16), nullable=False),
        sa.Column("delivery_channel", sa.String(length=16), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_survey_invitations_customer_id_customers")),
        sa.ForeignKeyConstraint(["round_id"], ["survey_rounds.id"],
                                name=op.f("fk_survey_invitations_round_id_survey_rounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_invitations")),
        sa.UniqueConstraint("round_id", "customer_id", name=op.f("uq_survey_invitations_round_id_customer_id")),
    )

    op.create_table(
        "survey_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("overall", sa.Integer(), nullable=True),
        sa.Column("aspects", sa.JSON(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("complaint_ticket_id", sa.Integer(), nullable=True),
        _utc("started_at"),
        _utc("completed_at", nullable=True),
        sa.CheckConstraint("kind IN ('satisfaction', 'resolution_check')", name=op.f("ck_survey_responses_kind")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_survey_responses_branch_id_branches")),
        sa.ForeignKeyConstraint(["complaint_ticket_id"], ["tickets.id"],
                                name=op.f("fk_survey_responses_complaint_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_survey_responses_customer_id_customers")),
        sa.ForeignKeyConstraint(["round_id"], ["survey_rounds.id"],
                                name=op.f("fk_survey_responses_round_id_survey_rounds")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_survey_responses_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_survey_responses_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sa.UniqueConstraint("round_id", "customer_id", name=op.f("uq_survey_responses_round_id_customer_id")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_survey_responses_ticket_id")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_survey_responses_visit_id")),
    )
    op.create_index("ix_survey_responses_customer", "survey_responses", ["customer_id", "started_at"])
    op.create_index("ix_survey_responses_completed", "survey_responses", ["completed_at"])


def downgrade() -> None:
    op.drop_index("ix_survey_responses_completed", table_name="survey_responses")
    op.drop_index("ix_survey_responses_customer", table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_table("survey_invitations")
    op.drop_table("survey_rounds")
    op.drop_index("ix_visits_survey_due", table_name="visits")
    op.drop_index("ix_visits_customer_visited", table_name="visits")
    op.drop_index("ix_visits_branch_visited", table_name="visits")
    op.drop_table("visits")
    op.drop_index("ix_conversation_states_expires_at", table_name="conversation_states")
    op.drop_table("conversation_states")
