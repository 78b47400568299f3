"""Serien-SMS (issue 17): the table sms_series and the Herkunft "series" of an SMS.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 02:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SOURCES = ("manual", "quick", "person", "company", "work_order", "ticket", "api", "resend")
CONSTRAINT = "ck_sms_message_sms_message_source"


def _check(sources):
    return "source IN (" + ", ".join(f"'{s}'" for s in sources) + ")"


def _set_sources(old, new):
    """Widen or narrow the CHECK of sms_message.source.

    PostgreSQL: drop and add the constraint. SQLite cannot alter a constraint, and a batch
    copy of sms_message would drop the FTS triggers of migration 0003: the table's stored
    CREATE statement is edited in place (SQLite's documented procedure for changing a CHECK
    constraint: writable_schema, then a new schema_version). Existing rows satisfy both.
    """
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(f"ALTER TABLE sms_message DROP CONSTRAINT {CONSTRAINT}")
        op.execute(f"ALTER TABLE sms_message ADD CONSTRAINT {CONSTRAINT} CHECK ({_check(new)})")
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sms_message'"
    ).scalar_one()
    if _check(old) not in sql:
        raise RuntimeError(f"{CONSTRAINT}: expected CHECK ({_check(old)}) in sms_message")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'sms_message'",
        (sql.replace(_check(old), _check(new)),),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade():
    op.create_table(
        "sms_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mandant_id", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_by_name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "draft", "queued", name="sms_series_state", native_enum=False,
                create_constraint=True, length=16,
            ),
            nullable=False,
        ),
        sa.Column("draft", sa.Text(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=80), nullable=True),
        sa.Column("cancelled", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mandant_id"], ["mandant.id"], name="fk_sms_series_mandant_id_mandant"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name="fk_sms_series_created_by_id_user",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sms_series"),
        sa.UniqueConstraint("token", name="uq_sms_series_token"),
    )
    op.create_index(
        "ix_sms_series_mandant_id_id", "sms_series", ["mandant_id", "state", "id"]
    )
    _set_sources(SOURCES, (*SOURCES, "series"))


def downgrade():
    # The SMS of a Serie stay, as SMS of "Neu" (the Herkunft the old schema knows).
    op.execute("UPDATE sms_message SET source = 'manual', priority = 0 WHERE source = 'series'")
    _set_sources((*SOURCES, "series"), SOURCES)
    op.drop_index("ix_sms_series_mandant_id_id", table_name="sms_series")
    op.drop_table("sms_series")
