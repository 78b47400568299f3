"""The decision about an Unklar SMS (issue 13 point 4): what, by whom, when, and the copy.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
DECISIONS = ('confirmed_sent', 'resent')
CHECK = 'ck_sms_message_sms_message_decision'


# Plain ADD COLUMN, not batch mode: a batch copy of sms_message on SQLite would drop the FTS
# triggers of migration 0003. SQLite takes no constraint added to an existing table, so there
# the CHECK of `decision` is written inline.
def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        checked = ', '.join(f"'{d}'" for d in DECISIONS)
        op.execute(
            f'ALTER TABLE sms_message ADD COLUMN decision VARCHAR(16) '
            f'CONSTRAINT {CHECK} CHECK (decision IN ({checked}))'
        )
    else:
        op.add_column('sms_message', sa.Column('decision', sa.String(length=16), nullable=True))
        op.create_check_constraint(op.f(CHECK), 'sms_message', sa.column('decision').in_(DECISIONS))
    op.add_column('sms_message', sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('sms_message', sa.Column('decided_by', sa.String(length=80), nullable=True))
    op.add_column('sms_message', sa.Column('resent_as_id', BigId, nullable=True))


def downgrade():
    for column in ('resent_as_id', 'decided_by', 'decided_at'):
        op.drop_column('sms_message', column)
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f(CHECK), 'sms_message', type_='check')
    # SQLite (3.35+) drops a column together with its own inline CHECK.
    op.drop_column('sms_message', 'decision')
