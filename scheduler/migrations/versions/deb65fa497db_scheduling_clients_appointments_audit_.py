"""scheduling: clients, appointments, audit, time off, extra hours, rooms per service, outbox

Revision ID: deb65fa497db
Revises: 7385ca16e4c1
Create Date: 2026-11-26 18:58:16.703342
"""

from __future__ import annotations

import sqlalchemy as sa
from advanced_alchemy import types as sa_types
from alembic import op
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB with Text)
from sqlalchemy.dialects import postgresql

revision = 'deb65fa497db'
down_revision = '7385ca16e4c1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=False),
    sa.Column('phone_digits', sa.String(length=20), nullable=False),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('address_line1', sa.String(length=200), nullable=False),
    sa.Column('address_line2', sa.String(length=200), nullable=False),
    sa.Column('city', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=100), nullable=False),
    sa.Column('postal_code', sa.String(length=20), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_client_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client'))
    )
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index('ix_client_practice_phone', ['practice_id', 'phone_digits'], unique=False)
        batch_op.create_index('uq_client_practice_email', ['practice_id', 'email'], unique=True)

    op.create_table('outbox_message',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('to_address', sa.String(length=254), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(sa_types.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('sent_at', sa_types.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_outbox_message_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_message'))
    )
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_message_practice_id'), ['practice_id'], unique=False)

    op.create_table('appointment',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('client_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('service_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('room_id', sa_types.GUID(length=16), nullable=True),
    sa.Column('start_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('end_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('block_start', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('block_end', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('status', sa.Enum('pending_payment', 'booked', 'arrived', 'completed', 'no_show', 'cancelled', name='appointmentstatus', native_enum=False, length=20), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('cancel_reason', sa.String(length=500), nullable=False),
    sa.Column('cancelled_late', sa.Boolean(), nullable=False),
    sa.Column('cancelled_at', sa_types.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('manage_token_hash', sa.String(length=64), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('block_start <= start_at AND end_at <= block_end', name=op.f('ck_appointment_block_covers_visit')),
    sa.CheckConstraint('start_at < end_at', name=op.f('ck_appointment_start_before_end')),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_appointment_client_id_client'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_appointment_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['room_id'], ['room.id'], name=op.f('fk_appointment_room_id_room'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_appointment_service_id_service'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_appointment_therapist_id_therapist'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment')),
    sa.UniqueConstraint('manage_token_hash', name=op.f('uq_appointment_manage_token_hash'))
    )
    if op.get_bind().dialect.name == "postgresql":
        # The database itself refuses a second live appointment over the same time, per therapist and room.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE appointment ADD CONSTRAINT no_double_booking_therapist EXCLUDE USING gist "
            "(therapist_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&) "
            "WHERE (status IN ('pending_payment', 'booked', 'arrived', 'completed'))"
        )
        op.execute(
            "ALTER TABLE appointment ADD CONSTRAINT no_double_booking_room EXCLUDE USING gist "
            "(room_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&) "
            "WHERE (room_id IS NOT NULL AND status IN ('pending_payment', 'booked', 'arrived', 'completed'))"
        )
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index('ix_appointment_practice_start', ['practice_id', 'start_at'], unique=False)
        batch_op.create_index('ix_appointment_room_block', ['room_id', 'block_start'], unique=False)
        batch_op.create_index('ix_appointment_therapist_block', ['therapist_id', 'block_start'], unique=False)

    op.create_table('client_sign_in_link',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('client_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('used_at', sa_types.DateTimeUTC(timezone=True), nullable=True),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], name=op.f('fk_client_sign_in_link_client_id_client'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_client_sign_in_link_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_sign_in_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_client_sign_in_link_token_hash'))
    )
    with op.batch_alter_table('client_sign_in_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_sign_in_link_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_client_sign_in_link_practice_id'), ['practice_id'], unique=False)

    op.create_table('extra_hours',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('start_time', sa.Time(), nullable=False),
    sa.Column('end_time', sa.Time(), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('start_time < end_time', name=op.f('ck_extra_hours_start_before_end')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_extra_hours_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_extra_hours_therapist_id_therapist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_extra_hours'))
    )
    with op.batch_alter_table('extra_hours', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_extra_hours_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_extra_hours_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('service_room',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('service_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('room_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_service_room_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['room_id'], ['room.id'], name=op.f('fk_service_room_room_id_room'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_service_room_service_id_service'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_room')),
    sa.UniqueConstraint('service_id', 'room_id', name=op.f('uq_service_room_service_id'))
    )
    with op.batch_alter_table('service_room', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_room_practice_id'), ['practice_id'], unique=False)

    op.create_table('time_off',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('therapist_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('start_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('end_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.CheckConstraint('start_at < end_at', name=op.f('ck_time_off_start_before_end')),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_time_off_practice_id_practice'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapist.id'], name=op.f('fk_time_off_therapist_id_therapist'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_off'))
    )
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_time_off_practice_id'), ['practice_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_time_off_therapist_id'), ['therapist_id'], unique=False)

    op.create_table('appointment_event',
    sa.Column('id', sa_types.GUID(length=16), nullable=False),
    sa.Column('appointment_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('actor_user_id', sa_types.GUID(length=16), nullable=True),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'cockroachdb').with_variant(sa_types.ORA_JSONB(), 'oracle').with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('practice_id', sa_types.GUID(length=16), nullable=False),
    sa.Column('sa_orm_sentinel', sa.Integer(), nullable=True),
    sa.Column('created_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.Column('updated_at', sa_types.DateTimeUTC(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['staff_user.id'], name=op.f('fk_appointment_event_actor_user_id_staff_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_appointment_event_appointment_id_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practice.id'], name=op.f('fk_appointment_event_practice_id_practice'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_event'))
    )
    with op.batch_alter_table('appointment_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_appointment_event_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_appointment_event_practice_id'), ['practice_id'], unique=False)

    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('min_notice_minutes', sa.Integer(), server_default='120', nullable=False))
        batch_op.add_column(sa.Column('horizon_days', sa.Integer(), server_default='90', nullable=False))
        batch_op.add_column(sa.Column('slot_granularity_minutes', sa.Integer(), server_default='15', nullable=False))
        batch_op.add_column(sa.Column('cancellation_window_hours', sa.Integer(), server_default='24', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.drop_column('cancellation_window_hours')
        batch_op.drop_column('slot_granularity_minutes')
        batch_op.drop_column('horizon_days')
        batch_op.drop_column('min_notice_minutes')

    with op.batch_alter_table('appointment_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_appointment_event_practice_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_event_appointment_id'))

    op.drop_table('appointment_event')
    with op.batch_alter_table('time_off', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_time_off_therapist_id'))
        batch_op.drop_index(batch_op.f('ix_time_off_practice_id'))

    op.drop_table('time_off')
    with op.batch_alter_table('service_room', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_room_practice_id'))

    op.drop_table('service_room')
    with op.batch_alter_table('extra_hours', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_extra_hours_therapist_id'))
        batch_op.drop_index(batch_op.f('ix_extra_hours_practice_id'))

    op.drop_table('extra_hours')
    with op.batch_alter_table('client_sign_in_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_sign_in_link_practice_id'))
        batch_op.drop_index(batch_op.f('ix_client_sign_in_link_client_id'))

    op.drop_table('client_sign_in_link')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_therapist_block')
        batch_op.drop_index('ix_appointment_room_block')
        batch_op.drop_index('ix_appointment_practice_start')
        batch_op.drop_index(batch_op.f('ix_appointment_practice_id'))
        batch_op.drop_index(batch_op.f('ix_appointment_client_id'))

    op.drop_table('appointment')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_practice_id'))

    op.drop_table('outbox_message')
    with op.batch_alter_table('client', schema=None) as batch_op:
        batch_op.drop_index('uq_client_practice_email')
        batch_op.drop_index('ix_client_practice_phone')
        batch_op.drop_index(batch_op.f('ix_client_practice_id'))

    op.drop_table('client')
