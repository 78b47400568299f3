"""Limits of a Mandant: SMS per hour and per day, the time its SMS are held back until, and
the index that counts the SMS runs took per Mandant since a time (mandant_id, claimed_at).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 11:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


# Plain ALTER TABLE and CREATE INDEX, not batch mode: a batch copy of sms_message on SQLite
# would drop the FTS triggers of migration 0003 (mandant has none, but one way for both).
def upgrade():
    op.add_column('mandant', sa.Column('sms_per_hour', sa.Integer(), nullable=True))
    op.add_column('mandant', sa.Column('sms_per_day', sa.Integer(), nullable=True))
    op.add_column('mandant', sa.Column('held_until', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_sms_message_mandant_claimed_at', 'sms_message', ['mandant_id', 'claimed_at'],
        unique=False,
    )


def downgrade():
    op.drop_index('ix_sms_message_mandant_claimed_at', table_name='sms_message')
    op.drop_column('mandant', 'held_until')
    op.drop_column('mandant', 'sms_per_day')
    op.drop_column('mandant', 'sms_per_hour')
