"""The parts of an SMS sent through the modem with what their status reports said (issue 15
point 3): sms_message_part.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 02:00:00

"""

from alembic import op
import sqlalchemy as sa

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "sms_message_part",
        sa.Column("message_id", BigId, nullable=False),
        sa.Column("part", sa.SmallInteger(), nullable=False),
        sa.Column("message_reference", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "delivered",
                "failed",
                name="sms_message_part_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("tp_status", sa.SmallInteger(), nullable=True),
        sa.Column("status_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matched_by_time", sa.Boolean(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["sms_message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("message_id", "part"),
    )


def downgrade():
    op.drop_table("sms_message_part")
