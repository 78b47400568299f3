"""webhooks, delivery reports and received SMS (inbound)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 19:05:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    # sms_message: plain add_column only (a batch copy would drop the FTS triggers of 0003).
    op.add_column('sms_message', sa.Column('report_status', sa.String(length=16), nullable=True))
    op.add_column('sms_message', sa.Column('reported_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('sms_received', schema=None) as batch_op:
        batch_op.add_column(sa.Column('forward_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('forward_error', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reply_to_message_id', BigId, nullable=True))
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('company_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('contact_name', sa.String(length=160), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_sms_received_reply_to_message_id_sms_message'), 'sms_message', ['reply_to_message_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_sms_received_person_id_person'), 'person', ['person_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_sms_received_company_id_company'), 'company', ['company_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_sms_received_reply_to_message_id', ['reply_to_message_id'], unique=False)
        batch_op.create_index('ix_sms_received_sender_id', ['sender', 'id'], unique=False)

    op.create_table('sms_webhook_notification',
    sa.Column('id', BigId, nullable=False),
    sa.Column('notification_id', sa.String(length=64), nullable=False),
    sa.Column('message_type', sa.String(length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_webhook_notification')),
    sa.UniqueConstraint('notification_id', name=op.f('uq_sms_webhook_notification_notification_id'))
    )


def downgrade():
    op.drop_table('sms_webhook_notification')
    with op.batch_alter_table('sms_received', schema=None) as batch_op:
        batch_op.drop_index('ix_sms_received_sender_id')
        batch_op.drop_index('ix_sms_received_reply_to_message_id')
        batch_op.drop_constraint(batch_op.f('fk_sms_received_company_id_company'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_sms_received_person_id_person'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_sms_received_reply_to_message_id_sms_message'), type_='foreignkey')
        batch_op.drop_column('contact_name')
        batch_op.drop_column('company_id')
        batch_op.drop_column('person_id')
        batch_op.drop_column('reply_to_message_id')
        batch_op.drop_column('forward_error')
        batch_op.drop_column('forward_attempts')
    op.drop_column('sms_message', 'reported_at')
    op.drop_column('sms_message', 'report_status')
