"""webhook deliveries: the due index in the order the relay claims (due time, then feed order)

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-01 10:00:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_due')
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at', 'event_tx', 'event_seq'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_deliveries_due')
        batch_op.create_index('ix_webhook_deliveries_due', ['status', 'next_attempt_at'], unique=False)
