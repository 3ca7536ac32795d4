"""clearance times: published answers kept by the scheduler

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:50:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import onewindow.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clearance_publications',
    sa.Column('key', sa.String(length=500), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('min_group', sa.Integer(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('as_of', onewindow.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('study_tx', sa.BigInteger(), nullable=False),
    sa.Column('study_seq', sa.BigInteger(), nullable=False),
    sa.Column('compute_seconds', sa.Float(), nullable=False),
    sa.Column('asked_at', onewindow.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_clearance_publications'))
    )


def downgrade() -> None:
    op.drop_table('clearance_publications')
