"""an absent agency's own inspection on the record: when it asked for it, and which it is

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 16:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import onewindow.models.base

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inspection_participants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reinspected_at', onewindow.models.base.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('reinspection_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_inspection_participants_reinspection_id_inspections'),
                                    'inspections', ['reinspection_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('inspection_participants', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inspection_participants_reinspection_id_inspections'),
                                 type_='foreignkey')
        batch_op.drop_column('reinspection_id')
        batch_op.drop_column('reinspected_at')
