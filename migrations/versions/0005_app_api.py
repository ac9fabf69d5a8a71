"""APP API: api keys and idempotency (issue 8)

API clients (hashed keys), app users linked to customers, the app's extra feedback
fields, idempotency records and shared rate-limit counters.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, models.base.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("signing_secret", sa.String(length=64), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        _utc("created_at"),
        _utc("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("name", name=op.f("uq_api_clients_name")),
        sa.UniqueConstraint("key_prefix", name=op.f("uq_api_clients_key_prefix")),
    )
    op.create_table(
        "app_customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("app_user_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        _utc("created_at"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_app_customers_customer_id_customers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_customers")),
        sa.UniqueConstraint("app", "app_user_id", name=op.f("uq_app_customers_app_app_user_id")),
        sa.UniqueConstraint("customer_id", name=op.f("uq_app_customers_customer_id")),
    )
    op.create_table(
        "app_feedback",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("api_client_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("contact", sa.String(length=128), nullable=True),
        _utc("created_at"),
        sa.ForeignKeyConstraint(["api_client_id"], ["api_clients.id"],
                                name=op.f("fk_app_feedback_api_client_id_api_clients")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_app_feedback_customer_id_customers")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_app_feedback_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_app_feedback")),
        sa.UniqueConstraint("customer_id", "client_id", name=op.f("uq_app_feedback_customer_id_client_id")),
    )
    op.create_table(
        "api_idempotency",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("api_client_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        _utc("created_at"),
        sa.ForeignKeyConstraint(["api_client_id"], ["api_clients.id"],
                                name=op.f("fk_api_idempotency_api_client_id_api_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("api_client_id", "key", name=op.f("uq_api_idempotency_api_client_id_key")),
    )
    op.create_index(op.f("ix_api_idempotency_created_at"), "api_idempotency", ["created_at"], unique=False)
    op.create_table(
        "api_rate_counters",
        sa.Column("api_client_id", sa.Integer(), nullable=False),
        _utc("window_start"),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["api_client_id"], ["api_clients.id"],
                                name=op.f("fk_api_rate_counters_api_client_id_api_clients")),
        sa.PrimaryKeyConstraint("api_client_id", "window_start", name=op.f("pk_api_rate_counters")),
    )


def downgrade() -> None:
    op.drop_table("api_rate_counters")
    op.drop_index(op.f("ix_api_idempotency_created_at"), table_name="api_idempotency")
    op.drop_table("api_idempotency")
    op.drop_table("app_feedback")
    op.drop_table("app_customers")
    op.drop_table("api_clients")
