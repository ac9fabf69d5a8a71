"""KPIs: visit counts, inspections, training (issue 7)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import models.base

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("imported_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_visit_counts_count_not_negative")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_visit_counts_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_counts")),
        sa.UniqueConstraint("branch_id", "day", name=op.f("uq_visit_counts_branch_id_day")),
    )
    op.create_table(
        "branch_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("item_scores", sa.JSON(), nullable=False),
        sa.Column("inspector", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score >= 0 AND score <= 100", name=op.f("ck_branch_inspections_score_range")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_branch_inspections_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_inspections")),
        sa.UniqueConstraint("branch_id", "month", name=op.f("uq_branch_inspections_branch_id_month")),
    )
    op.create_table(
        "training_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("session_code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("participants", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("passed >= 0 AND participants >= passed",
                           name=op.f("ck_training_assessments_passed_range")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_training_assessments_branch_id_branches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_assessments")),
        sa.UniqueConstraint("branch_id", "session_code", name=op.f("uq_training_assessments_branch_id_session_code")),
    )
    with op.batch_alter_table("training_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_assessments_held_on"), ["held_on"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_assessments_held_on"))
    op.drop_table("training_assessments")
    op.drop_table("branch_inspections")
    op.drop_table("visit_counts")
