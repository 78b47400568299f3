"""Channels of a job (sms_channel), the attempts of an SMS (sms_attempt) and the channel of an
SMS's attempt; each configured job's transport settings become its channel 1

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 10:00:00

"""
from datetime import UTC, datetime

from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# As webapp.jobs.settings keeps them: these fields of the websms section are the job's (not a
# channel's); everything else of the sections belongs to channel 1.
JOB_WIDE = ('signature', 'notification_callback_url', 'inbound_email')

job = sa.table(
    'job',
    sa.column('id', sa.Integer),
    sa.column('settings', sa.JSON),
    sa.column('secrets', sa.Text),
)


def upgrade():
    channel = op.create_table(
        'sms_channel',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('secrets', sa.Text(), nullable=False),
        sa.Column('routes', sa.String(length=500), nullable=False),
        sa.Column('failed_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('backoff_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('last_ok_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['job_id'], ['job.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sms_channel_job_id_position', 'sms_channel', ['job_id', 'position'])
    big_id = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
    op.create_table(
        'sms_attempt',
        sa.Column('id', big_id, nullable=False),
        sa.Column('message_id', big_id, nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['sms_message.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['channel_id'], ['sms_channel.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sms_attempt_message_id_id', 'sms_attempt', ['message_id', 'id'])
    # Plain ADD COLUMN, not batch mode: a batch copy of sms_message on SQLite would drop the
    # FTS triggers of migration 0003.
    op.add_column('sms_message', sa.Column('channel_id', sa.Integer(), nullable=True))
    op.add_column(
        'sms_message',
        sa.Column('channel_transients', sa.Integer(), server_default='0', nullable=False),
    )

    now = datetime.now(UTC)
    bind = op.get_bind()
    for job_id, settings, secrets in bind.execute(
        sa.select(job.c.id, job.c.settings, job.c.secrets)
    ).all():
        if not isinstance(settings, dict) or 'variant' not in settings:
            continue  # never configured: its first save creates channel 1
        websms = dict(settings.get('websms') or {})
        job_wide = {name: websms.pop(name) for name in JOB_WIDE if name in websms}
        bind.execute(
            channel.insert().values(
                job_id=job_id,
                position=1,
                rank=1,
                kind='modem' if settings.get('variant') == 1 else 'websms',
                name='',
                enabled=True,
                settings={
                    'modem': settings.get('modem') or {},
                    'websms': websms,
                    'stored_secrets': settings.get('stored_secrets') or [],
                },
                # The same token: the channel reads its secrets from it, the job its webhook
                # secret (no key needed here; the next save of each keeps only its own).
                secrets=secrets or '',
                routes='',
                failures=0,
                last_error='',
                created_at=now,
                updated_at=now,
            )
        )
        bind.execute(
            job.update().where(job.c.id == job_id).values(settings={'websms': job_wide})
        )


def downgrade():
    bind = op.get_bind()
    channel = sa.table(
        'sms_channel',
        sa.column('job_id', sa.Integer),
        sa.column('position', sa.Integer),
        sa.column('id', sa.Integer),
        sa.column('kind', sa.String),
        sa.column('settings', sa.JSON),
        sa.column('secrets', sa.Text),
    )
    firsts = {}
    for row in bind.execute(
        sa.select(channel.c.job_id, channel.c.kind, channel.c.settings, channel.c.secrets).order_by(
            channel.c.job_id, channel.c.position.desc(), channel.c.id.desc()
        )
    ).all():
        firsts[row.job_id] = row
    for job_id, settings, _secrets in bind.execute(
        sa.select(job.c.id, job.c.settings, job.c.secrets)
    ).all():
        first = firsts.get(job_id)
        if first is None:
            continue
        stored = first.settings or {}
        websms = {**(stored.get('websms') or {}), **((settings or {}).get('websms') or {})}
        bind.execute(
            job.update()
            .where(job.c.id == job_id)
            .values(
                settings={
                    'variant': 1 if first.kind == 'modem' else 2,
                    'modem': stored.get('modem') or {},
                    'websms': websms,
                    'stored_secrets': stored.get('stored_secrets') or [],
                },
                secrets=first.secrets,
            )
        )
    op.drop_column('sms_message', 'channel_transients')
    op.drop_column('sms_message', 'channel_id')
    op.drop_index('ix_sms_attempt_message_id_id', table_name='sms_attempt')
    op.drop_table('sms_attempt')
    op.drop_index('ix_sms_channel_job_id_position', table_name='sms_channel')
    op.drop_table('sms_channel')
