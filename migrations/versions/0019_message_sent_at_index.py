"""Index for SMS Nachrichten sorted by Versendet / Zugestellt: (sent_at, id).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 12:00:00

"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


# Plain CREATE INDEX, not batch mode: a batch copy of sms_message on SQLite would drop the
# FTS triggers of migration 0003.
def upgrade():
    op.create_index('ix_sms_message_sent_at_id', 'sms_message', ['sent_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_sms_message_sent_at_id', table_name='sms_message')
