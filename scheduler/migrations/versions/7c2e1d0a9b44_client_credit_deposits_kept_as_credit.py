"""client credit: deposits kept as account credit

Revision ID: 7c2e1d0a9b44
Revises: b1c518091441
Create Date: 2026-12-08 00:45:00.000000

A practice may keep a late-cancelled (or missed) visit's deposit as the client's account credit rather than as the
fee (`payment_policy.kept_deposit`: fee | credit). `client_credit` is the ledger of that credit: + a deposit kept,
- credit drawn at a checkout (payment method `credit`, a non-native enum: no schema change), each entry under a
unique idempotency key.
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op


revision = '7c2e1d0a9b44'
down_revision = 'b1c518091441'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_credit',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('client_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payment_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=255), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('amount <> 0', name=op.f('ck_client_credit_amount_not_zero')),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_client_credit_client_id_client'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_client_credit_payment_id_payment'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_client_credit_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_credit')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_client_credit_idempotency_key'))
    )
    with op.batch_alter_table('client_credit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_credit_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_client_credit_practice_id'), ['practice_id'], unique=False)

    with op.batch_alter_table('payment_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kept_deposit', sa.Enum('fee', 'credit', name='keptdeposit', native_enum=False, length=20), server_default='fee', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('payment_policy', schema=None) as batch_op:
        batch_op.drop_column('kept_deposit')
    with op.batch_alter_table('client_credit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_credit_practice_id'))
        batch_op.drop_index(batch_op.f('ix_client_credit_client_id'))
    op.drop_table('client_credit')
