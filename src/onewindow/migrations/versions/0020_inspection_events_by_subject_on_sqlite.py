"""events about an inspection indexed by their subject on SQLite too

An event about an inspection that serves several consignments (a container shared by filings) names none
of them (``filing_id`` null): the enterprise of one does not learn the other's id. A consignment's timeline
finds such events by its inspections, through the partial index on ``subject_id`` that PostgreSQL has had
since 0019; SQLite gets it now.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

INSPECTION_SUBJECT = sa.text("subject_type = 'inspection'")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_events_inspection_subject', 'events', ['subject_id'], sqlite_where=INSPECTION_SUBJECT)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_events_inspection_subject', table_name='events')
