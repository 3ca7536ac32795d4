"""events about an inspection indexed by their subject, on PostgreSQL

An event about an inspection is written only after every committed event about the same inspection in the
log's order (``events.service.record_event``): the largest ``tx`` of the inspection's events is read first.
Those events carry the filing of one of the declarations the inspection serves, which may change as others
join it, so the filing's index does not find them all: a partial index on ``subject_id`` for them. The
check runs on PostgreSQL only (SQLite has one writer at a time), and so does the index, built concurrently,
writers going on meanwhile.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 20:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

INSPECTION_SUBJECT = sa.text("subject_type = 'inspection'")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.create_index('ix_events_inspection_subject', 'events', ['subject_id'],
                            postgresql_where=INSPECTION_SUBJECT, postgresql_concurrently=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_events_inspection_subject', table_name='events')
