"""web sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:05:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import onewindow.models.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_sessions',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', onewindow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', onewindow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', onewindow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', onewindow.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_web_sessions')),
    sa.UniqueConstraint('digest', name=op.f('uq_web_sessions_digest'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_web_sessions_user_id', ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_web_sessions_user_id')
    op.drop_table('web_sessions')
