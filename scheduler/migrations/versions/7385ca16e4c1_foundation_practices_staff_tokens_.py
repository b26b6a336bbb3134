"""foundation: practices, staff, tokens, catalogue, sessions

Revision ID: 7385ca16e4c1
Revises: 
Create Date: 2026-11-26 18:49:31.778506
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB with Text)
from sqlalchemy.dialects import postgresql

revision = '7385ca16e4c1'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('practice',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('slug', sa.String(length=63), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('legal_name', sa.String(length=200), nullable=False),
    sa.Column('address_line1', sa.String(length=200), nullable=False),
    sa.Column('address_line2', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('ein', sa.String(length=20), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=True),
    sa.Column('policies', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(sa_types.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_practice')),
    sa.UniqueConstraint('slug', name=op.f('uq_practice_slug'))
    )
    op.create_table('store_entry',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('namespace', sa.String(length=255), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_store_entry')),
    sa.UniqueConstraint('key', 'namespace', name='uq_store_entry_key_namespace')
    )
    with op.batch_alter_table('store_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_store_entry_expires_at'), ['expires_at'], unique=False)

    op.create_table('web_session',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('session_id', sa.String(length=255), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('expires_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_session')),
    sa.UniqueConstraint('session_id', name='uq_web_session_session_id')
    )
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_session_expires_at'), ['expires_at'], unique=False)

    op.create_table('room',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_room_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_room')),
    sa.UniqueConstraint('practice_id', 'name', name=op.f('uq_room_practice_id'))
    )
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_room_practice_id'), ['practice_id'], unique=False)

    op.create_table('service',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('cpt_code', sa.String(length=10), nullable=True),
    sa.Column('fsa_eligible', sa.Boolean(), nullable=False),
    sa.Column('buffer_before_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_after_minutes', sa.Integer(), nullable=False),
    sa.Column('bookable_online', sa.Boolean(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('buffer_before_minutes >= 0 AND buffer_after_minutes >= 0', name=op.f('ck_service_buffers_not_negative')),
    sa.CheckConstraint('duration_minutes > 0', name=op.f('ck_service_duration_positive')),
    sa.CheckConstraint('price >= 0', name=op.f('ck_service_price_not_negative')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_service_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service'))
    )
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_practice_id'), ['practice_id'], unique=False)

    op.create_table('therapist',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('credential', sa.String(length=40), nullable=False),
    sa.Column('license_number', sa.String(length=60), nullable=False),
    sa.Column('license_state', sa.String(length=20), nullable=False),
    sa.Column('npi', sa.String(length=10), nullable=True),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_therapist_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapist'))
    )
    with op.batch_alter_table('therapist', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_therapist_practice_id'), ['practice_id'], unique=False)

    op.create_table('staff_user',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('owner', 'desk', 'therapist', name='role', native_enum=False, length=20), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_staff_user_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_staff_user_therapist_id_therapist'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_user')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_user_email'))
    )
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_user_practice_id'), ['practice_id'], unique=False)

    op.create_table('therapist_service',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('service_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_therapist_service_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_therapist_service_service_id_service'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_therapist_service_therapist_id_therapist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapist_service')),
    sa.UniqueConstraint('therapist_id', 'service_id', name=op.f('uq_therapist_service_therapist_id'))
    )
    with op.batch_alter_table('therapist_service', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_therapist_service_practice_id'), ['practice_id'], unique=False)

    op.create_table('working_hours',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('weekday', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('start_time < end_time', name=op.f('ck_working_hours_start_before_end')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_working_hours_weekday_range')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_working_hours_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_working_hours_therapist_id_therapist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_working_hours'))
    )
    with op.batch_alter_table('working_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_working_hours_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_working_hours_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('user_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('last_used_at', sa_types.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('revoked_at', sa_types.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_api_token_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_api_token_user_id_staff_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))
        batch_op.drop_index(batch_op.f('ix_api_token_practice_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('working_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_working_hours_therapist_id'))
        batch_op.drop_index(batch_op.f('ix_working_hours_practice_id'))

    op.drop_table('working_hours')
    with op.batch_alter_table('therapist_service', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_therapist_service_practice_id'))

    op.drop_table('therapist_service')
    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_user_practice_id'))

    op.drop_table('staff_user')
    with op.batch_alter_table('therapist', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_therapist_practice_id'))

    op.drop_table('therapist')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_practice_id'))

    op.drop_table('service')
    with op.batch_alter_table('room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_room_practice_id'))

    op.drop_table('room')
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_session_expires_at'))

    op.drop_table('web_session')
    with op.batch_alter_table('store_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_store_entry_expires_at'))

    op.drop_table('store_entry')
    op.drop_table('practice')
