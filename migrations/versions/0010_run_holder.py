"""Runs record their process (host, pid) and may end as stopped

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD = ('running', 'succeeded', 'failed')
NEW = ('running', 'succeeded', 'failed', 'stopped')


def _status(values):
    return sa.Enum(*values, name='job_run_status', native_enum=False, create_constraint=True,
                   length=16)


def upgrade():
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('host', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('pid', sa.Integer(), nullable=True))
        batch_op.alter_column('status', existing_type=_status(OLD), type_=_status(NEW),
                              existing_nullable=False)


def downgrade():
    op.execute("UPDATE job_run SET status = 'failed' WHERE status = 'stopped'")
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.alter_column('status', existing_type=_status(NEW), type_=_status(OLD),
                              existing_nullable=False)
        batch_op.drop_column('pid')
        batch_op.drop_column('host')
