"""The websms webhook secret moves from the job settings (plain text) into the job's encrypted
secrets; a delivery-report URL that contains it keeps a placeholder instead

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 12:00:00

"""
from alembic import op
import sqlalchemy as sa
from flask import current_app

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# As webapp.jobs.settings names them.
WEBHOOK_SECRET = 'webhook_secret'
SECRET_IN_URL = '{webhook_secret}'

job = sa.table(
    'job',
    sa.column('id', sa.Integer),
    sa.column('settings', sa.JSON),
    sa.column('secrets', sa.Text),
)


def _rows():
    return op.get_bind().execute(sa.select(job.c.id, job.c.settings, job.c.secrets)).all()


def _decrypt(job_id, token, key):
    from webapp.jobs.secrets import SecretsUnreadable, decrypt_secrets

    try:
        return decrypt_secrets(token or '', key)
    except SecretsUnreadable:
        raise RuntimeError(
            f'Job {job_id}: its stored secrets cannot be decrypted with SMS_SECRET_KEY, so the '
            'webhook secret cannot be stored with them. Run the upgrade with the SMS_SECRET_KEY '
            'of this installation (environment or instance/sms_secret_key).'
        ) from None


def _store(job_id, settings, websms, values, key):
    from webapp.jobs.secrets import encrypt_secrets

    op.get_bind().execute(
        job.update()
        .where(job.c.id == job_id)
        .values(settings={**settings, 'websms': websms}, secrets=encrypt_secrets(values, key))
    )


def upgrade():
    key = current_app.config['SMS_SECRET_KEY']
    for job_id, settings, token in _rows():
        websms = dict((settings or {}).get('websms') or {})
        if WEBHOOK_SECRET not in websms:
            continue
        plain = websms.pop(WEBHOOK_SECRET) or ''
        values = _decrypt(job_id, token, key)
        if plain:
            values[WEBHOOK_SECRET] = plain
            callback = websms.get('notification_callback_url') or ''
            websms['notification_callback_url'] = callback.replace(plain, SECRET_IN_URL)
        _store(job_id, settings, websms, values, key)


def downgrade():
    key = current_app.config['SMS_SECRET_KEY']
    for job_id, settings, token in _rows():
        if not token:
            continue
        values = _decrypt(job_id, token, key)
        secret = values.pop(WEBHOOK_SECRET, '')
        if not secret:
            continue
        websms = dict((settings or {}).get('websms') or {})
        websms[WEBHOOK_SECRET] = secret
        callback = websms.get('notification_callback_url') or ''
        websms['notification_callback_url'] = callback.replace(SECRET_IN_URL, secret)
        _store(job_id, settings or {}, websms, values, key)
