"""the containers in a port's yard indexed by port and arrival

The terminal's yard (the visits of its port that arrived and have not gone out, newest first) was read by
walking every visit the platform ever recorded. A partial index of the visits not yet over, by port and
arrival time: its size is the yards', and the page reads the newest of its port. On PostgreSQL it is built
concurrently, writers going on meanwhile.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

NOT_GATED_OUT = sa.text('gated_out_at IS NULL')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_container_visits_yard', 'container_visits', ['port', 'arrived_at'],
                            postgresql_where=NOT_GATED_OUT, postgresql_concurrently=True)
        return
    op.create_index('ix_container_visits_yard', 'container_visits', ['port', 'arrived_at'], sqlite_where=NOT_GATED_OUT)


def downgrade() -> None:
    op.drop_index('ix_container_visits_yard', table_name='container_visits')
