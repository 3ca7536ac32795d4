"""at most one open visit per container

A container is at one port at a time: its stay there (from discharge, or from the first decision about it,
to gate-out) is one visit, and that row is what releases and gate-out lock. Two transactions that each found
no open visit of a container (two arrivals at once, or two agencies accepting its consignment at once on
PostgreSQL) could each write one. A unique partial index of the open visits by container number now refuses
the second (which is run again and finds the first).

Open visits a database already holds twice or more are merged first into the earliest (the one every read
took as the container's visit): each of its empty columns takes the value of the first other that has one
(an arrival recorded on the later row, say), and the others are deleted (nothing refers to a visit by its
id). On PostgreSQL the table is locked against writes while this runs (the open visits are the yards': the
merge is quick, the index built in one pass over the visits).

The clearance-time study now measures a consignment on the visit of each container that carried its goods
(decision 38); its cursor is deleted so that the scheduler's next round recomputes every record by that rule.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

NOT_GATED_OUT = sa.text('gated_out_at IS NULL')
MERGED = ('port', 'terminal_id', 'conveyance', 'voyage', 'arrived_at', 'released_at')
"""The columns of a duplicate open visit that fill the kept one's when empty there."""


def _merge_duplicates(bind) -> None:
    visits = sa.table('container_visits', sa.column('id'), sa.column('number'), sa.column('created_at'),
                      sa.column('gated_out_at'), *(sa.column(name) for name in MERGED))
    twice = (sa.select(visits.c.number).where(visits.c.gated_out_at.is_(None))
             .group_by(visits.c.number).having(sa.func.count() > 1))
    found = bind.execute(sa.select(visits).where(visits.c.gated_out_at.is_(None), visits.c.number.in_(twice))
                         .order_by(visits.c.number, visits.c.created_at, visits.c.id)).mappings().all()
    by_number: dict[str, list] = {}
    for row in found:
        by_number.setdefault(row['number'], []).append(row)
    for kept, *others in by_number.values():
        filled = {name: next((o[name] for o in others if o[name] is not None), None)
                  for name in MERGED if kept[name] is None}
        if filled := {name: value for name, value in filled.items() if value is not None}:
            bind.execute(sa.update(visits).where(visits.c.id == kept['id']).values(**filled))
        bind.execute(sa.delete(visits).where(visits.c.id.in_([o['id'] for o in others])))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute('LOCK TABLE container_visits IN SHARE ROW EXCLUSIVE MODE')
    _merge_duplicates(bind)
    op.create_index('ux_container_visits_open', 'container_visits', ['number'], unique=True,
                    sqlite_where=NOT_GATED_OUT, postgresql_where=NOT_GATED_OUT)
    op.execute(sa.text("DELETE FROM sink_cursors WHERE name = 'clearance'"))


def downgrade() -> None:
    op.drop_index('ux_container_visits_open', table_name='container_visits')
