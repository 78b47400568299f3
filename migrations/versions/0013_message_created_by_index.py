"""Index for Meine SMS: one user's messages newest first (created_by_id, id), partial.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# SMS of the API and of modules have no author: left out, they do not make SQLite's
# statistics believe an author has half the table (it would then walk the status index).
AUTHORED = sa.text('created_by_id IS NOT NULL')


# Plain CREATE INDEX, not batch mode: a batch copy of sms_message on SQLite would drop the
# FTS triggers of migration 0003.
def upgrade():
    op.create_index(
        'ix_sms_message_created_by_id_id', 'sms_message', ['created_by_id', 'id'], unique=False,
        sqlite_where=AUTHORED, postgresql_where=AUTHORED,
    )


def downgrade():
    op.drop_index('ix_sms_message_created_by_id_id', table_name='sms_message')
