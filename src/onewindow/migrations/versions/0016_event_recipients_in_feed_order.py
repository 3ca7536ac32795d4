"""event recipients keyed in each organisation's feed order; the log's (tx, seq) index on PostgreSQL only

Each recipient row was written to three b-trees (the table, its primary key (event_seq, organisation_id) and
the feed's index (organisation_id, tx, event_seq)). The feed's order is now the primary key itself, and on
SQLite the rows are stored in it (WITHOUT ROWID): one b-tree. On SQLite every event's tx is 0, so the index
(tx, seq) of events repeated the table's own order (seq): it is dropped there.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 04:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

FEED_ORDER = ['organisation_id', 'tx', 'event_seq']
EVENT_FIRST = ['event_seq', 'organisation_id']


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _rebuild_recipients(FEED_ORDER, without_rowid=True)
        op.drop_index('ix_events_tx_seq', table_name='events')
        return
    op.drop_constraint('pk_event_recipients', 'event_recipients', type_='primary')
    op.create_primary_key('pk_event_recipients', 'event_recipients', FEED_ORDER)
    op.drop_index('ix_event_recipients_org_tx_seq', table_name='event_recipients')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.create_index('ix_events_tx_seq', 'events', ['tx', 'seq'])
        _rebuild_recipients(EVENT_FIRST, without_rowid=False)
        op.create_index('ix_event_recipients_org_tx_seq', 'event_recipients', FEED_ORDER)
        return
    op.create_index('ix_event_recipients_org_tx_seq', 'event_recipients', FEED_ORDER)
    op.drop_constraint('pk_event_recipients', 'event_recipients', type_='primary')
    op.create_primary_key('pk_event_recipients', 'event_recipients', EVENT_FIRST)


def _rebuild_recipients(key: list[str], *, without_rowid: bool) -> None:
    """SQLite changes neither a table's primary key nor its storage in place: the rows move to a new table (the
    old one's indexes go with it)."""
    op.rename_table('event_recipients', 'event_recipients_before')
    op.create_table(
        'event_recipients',
        sa.Column('event_seq', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Uuid(), nullable=False),
        sa.Column('tx', sa.BigInteger(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['event_seq'], ['events.seq'], name='fk_event_recipients_event_seq_events'),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'],
                                name='fk_event_recipients_organisation_id_organisations'),
        sa.PrimaryKeyConstraint(*key, name='pk_event_recipients'),
        sqlite_with_rowid=not without_rowid,
    )
    op.execute('INSERT INTO event_recipients (organisation_id, tx, event_seq) '
               'SELECT organisation_id, tx, event_seq FROM event_recipients_before')
    op.drop_table('event_recipients_before')
