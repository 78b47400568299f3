"""Index for the SMS history of a record (source, source_ref).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:30:00

"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# Plain CREATE INDEX, not batch mode: a batch copy of sms_message on SQLite would drop the
# FTS triggers of migration 0003.
def upgrade():
    op.create_index(
        'ix_sms_message_source_ref_id', 'sms_message', ['source', 'source_ref', 'id'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_sms_message_source_ref_id', table_name='sms_message')
