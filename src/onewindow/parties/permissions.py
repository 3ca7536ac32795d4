"""Permissions (``resource:action``) and the one table of which role grants which.

A role is only valid in the organisation kinds listed for it.
"""

from __future__ import annotations

from enum import StrEnum

from onewindow.models.organisation import AGENCY_KINDS, OrgKind


class Permission(StrEnum):
    filing_create = "filing:create"
    filing_read = "filing:read"
    filing_update = "filing:update"
    filing_submit = "filing:submit"
    declaration_read = "declaration:read"
    declaration_review = "declaration:review"  # accept or reject (受理)
    declaration_amend = "declaration:amend"
    event_read = "event:read"
    inspection_read = "inspection:read"
    inspection_decide = "inspection:decide"  # decide whether to inspect a declaration
    inspection_attend = "inspection:attend"  # check in and record results
    inspection_book = "inspection:book"  # book the appointment
    terminal_operate = "terminal:operate"  # arrivals, relocation, gate-out
    release_grant = "release:grant"  # release and revoke (核放)
    container_read = "container:read"
    organisation_read = "organisation:read"
    organisation_manage = "organisation:manage"
    webhook_manage = "webhook:manage"  # the organisation's webhook subscriptions and deliveries


class Role(StrEnum):
    declarant = "declarant"  # enterprise staff who enter and file
    viewer = "viewer"  # read-only, any organisation
    officer = "officer"  # agency staff who review and amend
    operator = "operator"  # terminal staff
    admin = "admin"  # the platform operator (口岸办)


P = Permission
_READ = {P.filing_read, P.declaration_read, P.event_read, P.organisation_read, P.inspection_read, P.container_read}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.declarant: frozenset(_READ | {P.filing_create, P.filing_update, P.filing_submit, P.declaration_amend,
                                       P.inspection_book, P.webhook_manage}),
    Role.viewer: frozenset(_READ),
    Role.officer: frozenset(_READ | {P.declaration_review, P.declaration_amend, P.inspection_decide,
                                     P.inspection_attend, P.release_grant, P.webhook_manage}),
    Role.operator: frozenset(_READ | {P.terminal_operate, P.webhook_manage}),
    Role.admin: frozenset(_READ | {P.organisation_manage, P.webhook_manage}),
}

ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.declarant: frozenset({OrgKind.enterprise}),
    Role.viewer: frozenset(OrgKind),
    Role.officer: frozenset(AGENCY_KINDS),
    Role.operator: frozenset({OrgKind.terminal}),
    Role.admin: frozenset({OrgKind.admin}),
}

DEFAULT_ROLE: dict[OrgKind, Role] = {
    OrgKind.enterprise: Role.declarant,
    OrgKind.customs: Role.officer,
    OrgKind.ciq: Role.officer,
    OrgKind.border: Role.officer,
    OrgKind.maritime: Role.officer,
    OrgKind.terminal: Role.operator,
    OrgKind.admin: Role.admin,
}


def grants(role: str, permission: Permission) -> bool:
    """Whether ``role`` grants ``permission`` (unknown roles grant nothing)."""
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False
