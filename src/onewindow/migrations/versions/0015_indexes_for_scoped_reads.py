"""indexes that keep scoped reads independent of how much is stored: an organisation's part in one
inspection, a port's open relocation tasks, the terminals of a port, open inspections by status and
appointment, inspections completed since a time

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 19:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_inspection_participants_organisation_id', table_name='inspection_participants')
    op.create_index('ix_inspection_participants_organisation_inspection', 'inspection_participants',
                    ['organisation_id', 'inspection_id'])
    op.drop_index('ix_relocation_tasks_port', table_name='relocation_tasks')
    op.create_index('ix_relocation_tasks_port_status', 'relocation_tasks', ['port', 'status', 'created_at'])
    op.create_index('ix_organisations_kind_port', 'organisations', ['kind', 'port'])
    op.create_index('ix_inspections_status_appointment', 'inspections', ['status', 'appointment_at'])
    op.create_index('ix_inspections_completed_at', 'inspections', ['completed_at'])


def downgrade() -> None:
    op.drop_index('ix_inspections_completed_at', table_name='inspections')
    op.drop_index('ix_inspections_status_appointment', table_name='inspections')
    op.drop_index('ix_organisations_kind_port', table_name='organisations')
    op.drop_index('ix_relocation_tasks_port_status', table_name='relocation_tasks')
    op.create_index('ix_relocation_tasks_port', 'relocation_tasks', ['port'])
    op.drop_index('ix_inspection_participants_organisation_inspection', table_name='inspection_participants')
    op.create_index('ix_inspection_participants_organisation_id', 'inspection_participants', ['organisation_id'])
