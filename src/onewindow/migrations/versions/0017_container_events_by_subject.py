"""events about a container visit indexed by their subject

A consignment's timeline reads its filing's events (``ix_events_filing_seq``) and the events about its
containers' visits (released, release revoked, gated out), which were found only by walking the reader's
whole feed. A partial index on ``subject_id`` for those events alone: a handful per visit to write. On
PostgreSQL it is built concurrently, writers going on meanwhile.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 07:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

CONTAINER_SUBJECT = sa.text("subject_type = 'container'")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_events_container_subject', 'events', ['subject_id'],
                            postgresql_where=CONTAINER_SUBJECT, postgresql_concurrently=True)
        return
    op.create_index('ix_events_container_subject', 'events', ['subject_id'], sqlite_where=CONTAINER_SUBJECT)


def downgrade() -> None:
    op.drop_index('ix_events_container_subject', table_name='events')
