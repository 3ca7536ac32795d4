"""sign-in pause: wrong passwords counted per user, sign-in paused after too many

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import onewindow.models.base

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sign_in_paused_until', onewindow.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('sign_in_paused_until')
        batch_op.drop_column('failed_sign_ins')
