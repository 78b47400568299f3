"""Versand am (issue 17 point 3): an SMS's planned time `send_at`, the statuses "planned"
(Geplant) and "cancelled" (Abgebrochen), and the partial index of planned SMS by their time.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 01:40:00

"""

from alembic import op
import sqlalchemy as sa

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed", "expired", "unknown")
NEW_STATUSES = ("planned", *STATUSES, "cancelled")
CONSTRAINT = "ck_sms_message_sms_message_status"
PLANNED_ONLY = sa.text("status = 'planned'")


def _check(statuses):
    return "status IN (" + ", ".join(f"'{s}'" for s in statuses) + ")"


def _set_statuses(old, new):
    """Widen or narrow the CHECK of sms_message.status.

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


# Plain ADD COLUMN and CREATE INDEX, not batch mode: a batch copy of sms_message on SQLite
# would drop the FTS triggers of migration 0003.
def upgrade():
    op.add_column("sms_message", sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
    _set_statuses(STATUSES, NEW_STATUSES)
    op.create_index(
        "ix_sms_message_planned",
        "sms_message",
        ["status", "send_at"],
        unique=False,
        sqlite_where=PLANNED_ONLY,
        postgresql_where=PLANNED_ONLY,
    )


def downgrade():
    # What was planned waits as queued (due at once); a cancelled SMS ends as expired, the
    # old schema's status of an SMS that was never sent and never will be.
    op.execute("UPDATE sms_message SET status = 'queued' WHERE status = 'planned'")
    op.execute("UPDATE sms_message SET status = 'expired' WHERE status = 'cancelled'")
    op.drop_index("ix_sms_message_planned", table_name="sms_message")
    _set_statuses(NEW_STATUSES, STATUSES)
    op.drop_column("sms_message", "send_at")  # SQLite ≥ 3.35: ALTER TABLE DROP COLUMN
