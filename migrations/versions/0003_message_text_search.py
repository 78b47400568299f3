"""Text search of the SMS list: FTS5 trigram index on SQLite, pg_trgm GIN index on PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 18:10:00

Both make "Text enthält" fast at a million messages (bench/list_page.py). They are dialect
specific, so they live here and not in the models (see SEARCH_INDEX_OBJECTS in
webapp/models/sms.py, which the migration environment leaves out of autogenerate).
"""
import logging

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE sms_message_fts USING fts5("
            "text, content='sms_message', content_rowid='id', tokenize='trigram')"
        )
        # External-content FTS: triggers keep it in step with sms_message.
        op.execute(
            "CREATE TRIGGER sms_message_fts_insert AFTER INSERT ON sms_message BEGIN "
            "INSERT INTO sms_message_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER sms_message_fts_delete AFTER DELETE ON sms_message BEGIN "
            "INSERT INTO sms_message_fts(sms_message_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER sms_message_fts_update AFTER UPDATE OF text ON sms_message BEGIN "
            "INSERT INTO sms_message_fts(sms_message_fts, rowid, text) "
            "VALUES ('delete', old.id, old.text); "
            "INSERT INTO sms_message_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute("INSERT INTO sms_message_fts(sms_message_fts) VALUES ('rebuild')")
    elif bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        ).scalar()
        if not available:
            log.warning("pg_trgm is not available: text search of the SMS list stays unindexed")
            return
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_sms_message_text_trgm ON sms_message USING gin (text gin_trgm_ops)"
        )


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS sms_message_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS sms_message_fts")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_sms_message_text_trgm")
