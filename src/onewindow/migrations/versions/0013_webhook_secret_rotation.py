"""webhook secret rotation: the previous secret and until when requests are signed with it too

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import onewindow.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_secret', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('previous_secret_until', onewindow.models.base.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('previous_secret_until')
        batch_op.drop_column('previous_secret')
