"""Fair share in the claim: each SMS's priority (dialog 0, API 1) and the partial index of
queued SMS per Mandant, dialog before bulk, oldest first (mandant_id, priority, id).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

QUEUED_ONLY = sa.text("status = 'queued'")


# Plain ALTER TABLE and CREATE INDEX (also in downgrade), not batch mode: a batch copy of sms_message on SQLite
# would drop the FTS triggers of migration 0003.
def upgrade():
    op.add_column(
        'sms_message',
        sa.Column('priority', sa.SmallInteger(), server_default='0', nullable=False),
    )
    # Only the SMS still waiting matter to the claim; those of the API are bulk.
    op.execute("UPDATE sms_message SET priority = 1 WHERE source = 'api'")
    op.create_index(
        'ix_sms_message_claim', 'sms_message', ['mandant_id', 'priority', 'id'], unique=False,
        sqlite_where=QUEUED_ONLY, postgresql_where=QUEUED_ONLY,
    )


def downgrade():
    op.drop_index('ix_sms_message_claim', table_name='sms_message')
    op.drop_column('sms_message', 'priority')  # SQLite ≥ 3.35: ALTER TABLE DROP COLUMN
