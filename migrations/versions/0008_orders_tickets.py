"""work orders and tickets

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 19:05:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('work_order',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('mandant_id', sa.Integer(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('appointment', sa.DateTime(timezone=True), nullable=True),
    sa.Column('creditor_id', sa.Integer(), nullable=True),
    sa.Column('inspector_id', sa.Integer(), nullable=True),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['company.id'], name=op.f('fk_work_order_creditor_id_company'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['inspector_id'], ['person.id'], name=op.f('fk_work_order_inspector_id_person'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mandant_id'], ['mandant.id'], name=op.f('fk_work_order_mandant_id_mandant')),
    sa.ForeignKeyConstraint(['resident_id'], ['person.id'], name=op.f('fk_work_order_resident_id_person'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_order')),
    sa.UniqueConstraint('number', name=op.f('uq_work_order_number'))
    )
    op.create_index('ix_work_order_mandant_id_id', 'work_order', ['mandant_id', 'id'], unique=False)

    op.create_table('ticket',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('mandant_id', sa.Integer(), nullable=False),
    sa.Column('resident_id', sa.Integer(), nullable=True),
    sa.Column('subject', sa.String(length=160), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('sms_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mandant_id'], ['mandant.id'], name=op.f('fk_ticket_mandant_id_mandant')),
    sa.ForeignKeyConstraint(['resident_id'], ['person.id'], name=op.f('fk_ticket_resident_id_person'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket')),
    sa.UniqueConstraint('number', name=op.f('uq_ticket_number'))
    )
    op.create_index('ix_ticket_mandant_id_id', 'ticket', ['mandant_id', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_ticket_mandant_id_id', table_name='ticket')
    op.drop_table('ticket')
    op.drop_index('ix_work_order_mandant_id_id', table_name='work_order')
    op.drop_table('work_order')
