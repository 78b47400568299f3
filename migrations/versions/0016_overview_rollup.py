"""Übersicht: the daily roll-up of SMS and modem signal, the signal of every run.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sms_daily_count',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('mandant_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('within_1m', sa.Integer(), nullable=False),
        sa.Column('within_5m', sa.Integer(), nullable=False),
        sa.Column('within_15m', sa.Integer(), nullable=False),
        sa.Column('within_1h', sa.Integer(), nullable=False),
        sa.Column('within_6h', sa.Integer(), nullable=False),
        sa.Column('within_24h', sa.Integer(), nullable=False),
        sa.Column('later', sa.Integer(), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['mandant_id'], ['mandant.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'uq_sms_daily_count_day_mandant_status_reason', 'sms_daily_count',
        ['day', 'mandant_id', 'status', 'reason'], unique=True,
    )
    op.create_table(
        'sms_daily_signal',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('readings', sa.Integer(), nullable=False),
        sa.Column('registered', sa.Integer(), nullable=False),
        sa.Column('rssi_readings', sa.Integer(), nullable=False),
        sa.Column('rssi_min', sa.Integer(), nullable=True),
        sa.Column('rssi_max', sa.Integer(), nullable=True),
        sa.Column('rssi_sum', sa.Integer(), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )
    # Plain ADD COLUMN, not batch mode (nullable columns need no table copy on SQLite).
    op.add_column('job_run', sa.Column('signal_rssi', sa.Integer(), nullable=True))
    op.add_column('job_run', sa.Column('registration', sa.String(length=16), nullable=True))
    op.create_index('ix_job_run_started_at', 'job_run', ['started_at'], unique=False)


def downgrade():
    op.drop_index('ix_job_run_started_at', table_name='job_run')
    with op.batch_alter_table('job_run') as batch:
        batch.drop_column('registration')
        batch.drop_column('signal_rssi')
    op.drop_table('sms_daily_signal')
    op.drop_index('uq_sms_daily_count_day_mandant_status_reason', table_name='sms_daily_count')
    op.drop_table('sms_daily_count')
