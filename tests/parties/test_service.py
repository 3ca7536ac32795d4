"""Registering organisations, users and tokens; authenticating; the permissions table."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select

from onewindow.context import Actor
from onewindow.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from onewindow.models import AGENCY_KINDS, ApiToken, CreditLevel, Organisation, OrgKind, User
from onewindow.parties.permissions import (
    DEFAULT_ROLE, ROLE_ORG_KINDS, ROLE_PERMISSIONS, Permission, Role, grants,
)
from onewindow.parties.service import (
    actor_for, add_organisation, authenticate, digest, ensure_user, get_organisation_by_code, issue_token,
)

ENTERPRISE = "91210200MA0QK1P3AF"
OTHER_ENTERPRISE = "91210211MA0XY7L2XK"

VALID = {
    "enterprise": (ENTERPRISE, None),
    "customs": ("0916", None),
    "ciq": ("210600", None),
    "border": ("DLBORDER", None),
    "maritime": ("DLMSA", None),
    "terminal": ("DCT", "CNDAG"),
    "admin": ("PORTOFFICE", None),
}


def add(run, kind: str, code: str | None = None, *, name: str = "某机构", port: str | None = None,
        credit: str | None = None) -> Organisation:
    default_code, default_port = VALID[kind]
    return run(lambda ctx: add_organisation(ctx, kind=kind, code=code or default_code, name=name,
                                            port=port or default_port, credit_level=credit))


def invalid(run, fn) -> list[list]:
    """The field paths named by the ValidationFailed that ``fn`` raises."""
    with pytest.raises(ValidationFailed) as caught:
        run(fn)
    assert caught.value.status == 422 and caught.value.code == "validation_failed"
    return [d["loc"] for d in caught.value.details]


def org_count(run) -> int:
    return len(run(lambda ctx: ctx.session.scalars(select(Organisation)).all()))


# --- organisations ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(VALID))
def test_add_organisation_of_every_kind(run, clock, kind):
    org = add(run, kind, name="  大连 机构  ")
    code, port = VALID[kind]
    stored = run(lambda ctx: get_organisation_by_code(ctx, code))
    assert stored.id == org.id
    assert (stored.kind, stored.code, stored.name, stored.port) == (kind, code, "大连 机构", port)
    assert stored.created_at == clock.now()
    assert stored.org_kind is OrgKind(kind)


def test_an_enterprise_gets_the_general_credit_level_by_default(run):
    assert add(run, "enterprise").credit_level == CreditLevel.general == "general"
    assert add(run, "enterprise", OTHER_ENTERPRISE, credit="advanced").credit_level == "advanced"
    levels = run(lambda ctx: {o.code: o.credit_level for o in ctx.session.scalars(select(Organisation))})
    assert levels == {ENTERPRISE: "general", OTHER_ENTERPRISE: "advanced"}


@pytest.mark.parametrize("level", list(CreditLevel))
def test_every_credit_level_is_accepted_for_an_enterprise(run, level):
    assert add(run, "enterprise", credit=level.value).credit_level == level.value


@pytest.mark.parametrize("kind", [k for k in VALID if k != "enterprise"])
def test_only_enterprises_have_a_credit_level(run, kind):
    assert add(run, kind).credit_level is None
    run(lambda ctx: ctx.session.execute(Organisation.__table__.delete()))
    assert invalid(run, lambda ctx: add_organisation(ctx, kind=kind, code=VALID[kind][0], name="x",
                                                     port=VALID[kind][1], credit_level="general")) == [["credit"]]
    assert org_count(run) == 0


def test_an_unknown_credit_level_is_refused(run):
    assert invalid(run, lambda ctx: add_organisation(ctx, kind="enterprise", code=ENTERPRISE, name="x",
                                                     credit_level="AEO")) == [["credit"]]


@pytest.mark.parametrize(("kind", "code", "port"), [
    ("enterprise", "91210200MA0QK1P3AG", None),  # wrong check character
    ("enterprise", "91210200MA0QK1P3", None),  # too short
    ("enterprise", "91210200MA0QK1P3OF", None),  # O is not in the alphabet
    ("enterprise", "0916", None),
    ("customs", "916", None),
    ("customs", "09161", None),
    ("customs", "ABCD", None),
    ("customs", "210600", None),
    ("ciq", "21060", None),
    ("ciq", "2106000", None),
    ("ciq", "0916", None),
    ("ciq", "21O600", None),
    ("terminal", "D", "CNDAG"),  # short codes are 2-32 characters
    ("terminal", "DCT TWO", "CNDAG"),
    ("border", "X" * 33, None),
    ("admin", "-ADMIN", None),
])
def test_codes_are_validated_by_kind(run, kind, code, port):
    assert invalid(run, lambda ctx: add_organisation(ctx, kind=kind, code=code, name="x", port=port)) == [["code"]]
    assert org_count(run) == 0


def test_codes_are_stripped_and_upper_cased(run):
    org = add(run, "terminal", " dct-2 ")
    assert org.code == "DCT-2"
    assert run(lambda ctx: get_organisation_by_code(ctx, "dct-2")).id == org.id


def test_a_terminal_needs_a_known_chinese_port(run):
    assert invalid(run, lambda ctx: add_organisation(ctx, kind="terminal", code="DCT", name="x")) == [["office"]]
    for port in ("CNXXX", "USNYC", "DALIAN"):
        assert invalid(run, lambda ctx: add_organisation(ctx, kind="terminal", code="DCT", name="x",
                                                         port=port)) == [["office"]]
    assert org_count(run) == 0


def test_an_unknown_kind_is_refused_naming_the_kinds(run):
    with pytest.raises(ValidationFailed) as caught:
        run(lambda ctx: add_organisation(ctx, kind="bank", code="ICBC", name="x"))
    [detail] = caught.value.details
    assert detail["loc"] == ["kind"]
    for kind in OrgKind:
        assert kind.value in detail["msg"]


def test_every_bad_field_is_named_at_once(run):
    locs = invalid(run, lambda ctx: add_organisation(ctx, kind="customs", code="91", name="   ", port="CNXXX",
                                                     credit_level="general"))
    assert sorted(locs) == [["code"], ["credit"], ["name"], ["office"]]


def test_a_duplicate_code_is_a_conflict(run):
    add(run, "customs")
    with pytest.raises(Conflict) as caught:
        add(run, "customs", name="another")
    assert caught.value.status == 409 and caught.value.code == "duplicate"
    assert "0916" in caught.value.message
    # Codes are unique across kinds and regardless of case.
    add(run, "terminal", "DCT")
    with pytest.raises(Conflict):
        run(lambda ctx: add_organisation(ctx, kind="border", code="dct", name="x"))
    assert org_count(run) == 2


def test_an_unknown_code_is_not_found(run):
    with pytest.raises(NotFound) as caught:
        run(lambda ctx: get_organisation_by_code(ctx, "0999"))
    assert caught.value.status == 404 and "0999" in caught.value.message


# --- users --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(VALID))
def test_a_new_user_gets_the_default_role_of_its_kind(run, clock, kind):
    org = add(run, kind)
    user = run(lambda ctx: ensure_user(ctx, org, "staff"))
    assert user.role == DEFAULT_ROLE[OrgKind(kind)].value
    assert (user.organisation_id, user.name, user.created_at) == (org.id, "staff", clock.now())


def test_default_roles_are_the_expected_ones():
    assert {k.value: r.value for k, r in DEFAULT_ROLE.items()} == {
        "enterprise": "declarant", "customs": "officer", "ciq": "officer", "border": "officer",
        "maritime": "officer", "terminal": "operator", "admin": "admin"}


@pytest.mark.parametrize(("kind", "role"), [
    ("enterprise", "declarant"), ("enterprise", "viewer"),
    ("customs", "officer"), ("ciq", "officer"), ("border", "officer"), ("maritime", "officer"),
    ("customs", "viewer"), ("terminal", "operator"), ("terminal", "viewer"), ("admin", "admin"),
    ("admin", "viewer"),
])
def test_a_role_allowed_for_the_kind_is_given(run, kind, role):
    org = add(run, kind)
    assert run(lambda ctx: ensure_user(ctx, org, "someone", role)).role == role


@pytest.mark.parametrize(("kind", "role"), [
    ("enterprise", "officer"), ("enterprise", "operator"), ("enterprise", "admin"),
    ("customs", "declarant"), ("ciq", "operator"), ("border", "admin"),
    ("terminal", "officer"), ("terminal", "declarant"),
    ("admin", "declarant"), ("admin", "officer"),
    ("customs", "root"), ("customs", "Officer"),
])
def test_a_role_not_for_the_kind_is_refused(run, kind, role):
    org = add(run, kind)
    assert invalid(run, lambda ctx: ensure_user(ctx, org, "someone", role)) == [["role"]]
    assert run(lambda ctx: ctx.session.scalars(select(User)).all()) == []


def test_ensure_user_returns_the_existing_user_and_replaces_its_role_only_when_given(run):
    org = add(run, "enterprise")
    first = run(lambda ctx: ensure_user(ctx, org, "clerk"))
    again = run(lambda ctx: ensure_user(ctx, org, "clerk"))
    assert again.id == first.id and again.role == "declarant"
    demoted = run(lambda ctx: ensure_user(ctx, org, "clerk", "viewer"))
    assert demoted.id == first.id and demoted.role == "viewer"
    kept = run(lambda ctx: ensure_user(ctx, org, "clerk"))
    assert kept.role == "viewer"
    assert len(run(lambda ctx: ctx.session.scalars(select(User)).all())) == 1


def test_the_same_user_name_in_two_organisations_is_two_users(run):
    customs, ciq = add(run, "customs"), add(run, "ciq")
    a = run(lambda ctx: ensure_user(ctx, customs, "wang"))
    b = run(lambda ctx: ensure_user(ctx, ciq, "wang"))
    assert a.id != b.id
    assert (a.organisation_id, b.organisation_id) == (customs.id, ciq.id)


@pytest.mark.parametrize("name", ["", "two words", "a/b", "x" * 101, "semi;colon"])
def test_user_names_are_validated(run, name):
    org = add(run, "customs")
    assert invalid(run, lambda ctx: ensure_user(ctx, org, name)) == [["user"]]


@pytest.mark.parametrize("name", ["wang.li", "li-na@0916", "王力", "x" * 100, "a_b"])
def test_user_names_that_are_accepted(run, name):
    org = add(run, "customs")
    assert run(lambda ctx: ensure_user(ctx, org, name)).name == name


def test_a_user_name_with_a_trailing_newline_is_refused(run):
    org = add(run, "customs")
    assert invalid(run, lambda ctx: ensure_user(ctx, org, "alice\n")) == [["user"]]


# --- tokens -------------------------------------------------------------------------------------------------


def _user(run, kind: str = "enterprise", name: str = "clerk", role: str | None = None) -> User:
    org = add(run, kind)
    return run(lambda ctx: ensure_user(ctx, org, name, role))


def test_issue_token_stores_only_the_digest(run, clock):
    user = _user(run)
    token = run(lambda ctx: issue_token(ctx, user))
    assert token.startswith("ow_") and len(token) >= 40
    [row] = run(lambda ctx: ctx.session.scalars(select(ApiToken)).all())
    assert row.user_id == user.id
    assert row.digest == hashlib.sha256(token.encode()).hexdigest() == digest(token)
    assert row.prefix == token[:10]
    assert token not in (row.digest, row.prefix)
    assert row.created_at == clock.now() and row.revoked_at is None


def test_tokens_are_distinct(run):
    user = _user(run)
    tokens = [run(lambda ctx: issue_token(ctx, user)) for _ in range(5)]
    assert len(set(tokens)) == 5


def test_authenticate_gives_the_actor_behind_a_token(run):
    user = _user(run, "customs", "officer1")
    token = run(lambda ctx: issue_token(ctx, user))
    actor = run(lambda ctx: authenticate(ctx, token))
    assert isinstance(actor, Actor)
    assert actor.organisation.code == "0916" and actor.kind is OrgKind.customs
    assert actor.user.id == user.id and actor.user_id == user.id and actor.org_id == user.organisation_id
    assert actor.role == "officer"
    assert actor.can(Permission.declaration_review) and not actor.can(Permission.filing_create)


def test_authenticate_follows_the_users_current_role(run):
    user = _user(run)
    token = run(lambda ctx: issue_token(ctx, user))
    run(lambda ctx: ensure_user(ctx, ctx.session.get(Organisation, user.organisation_id), "clerk", "viewer"))
    assert run(lambda ctx: authenticate(ctx, token)).role == "viewer"


@pytest.mark.parametrize("token", ["", "ow_nope", "not a token"])
def test_an_unknown_token_is_unauthenticated(run, token):
    _user(run)
    with pytest.raises(Unauthenticated) as caught:
        run(lambda ctx: authenticate(ctx, token))
    assert caught.value.status == 401 and caught.value.code == "unauthenticated"


def test_a_revoked_token_is_unauthenticated(run, clock, client):
    user = _user(run)
    revoked, kept = run(lambda ctx: issue_token(ctx, user)), run(lambda ctx: issue_token(ctx, user))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {revoked}"}).status_code == 200

    def revoke(ctx):
        row = ctx.session.scalar(select(ApiToken).where(ApiToken.digest == digest(revoked)))
        row.revoked_at = clock.now() + timedelta(minutes=1)

    run(revoke)
    with pytest.raises(Unauthenticated):
        run(lambda ctx: authenticate(ctx, revoked))
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {revoked}"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert answer.headers["www-authenticate"] == "Bearer"
    # Revoking one token leaves the user's other tokens working.
    assert run(lambda ctx: authenticate(ctx, kept)).user.id == user.id
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {kept}"}).status_code == 200


def test_actor_for_picks_the_named_or_the_first_user(run, clock):
    org = add(run, "customs")
    first = run(lambda ctx: ensure_user(ctx, org, "first"))
    clock.advance(60)
    run(lambda ctx: ensure_user(ctx, org, "second", "viewer"))
    assert run(lambda ctx: actor_for(ctx, "0916")).user.id == first.id
    named = run(lambda ctx: actor_for(ctx, "0916", "second"))
    assert (named.user.name, named.role) == ("second", "viewer")
    with pytest.raises(NotFound):
        run(lambda ctx: actor_for(ctx, "0916", "third"))


def test_actor_for_an_organisation_without_users_acts_with_the_default_role(run):
    add(run, "terminal")
    actor = run(lambda ctx: actor_for(ctx, "dct"))
    assert actor.user is None and actor.user_id is None and actor.role == "operator"


# --- permissions --------------------------------------------------------------------------------------------

READ = {Permission.filing_read, Permission.declaration_read, Permission.event_read,
        Permission.organisation_read, Permission.inspection_read, Permission.container_read}


@pytest.mark.parametrize(("role", "granted"), [
    ("declarant", READ | {Permission.filing_create, Permission.filing_update, Permission.filing_submit,
                          Permission.declaration_amend, Permission.inspection_book, Permission.webhook_manage}),
    ("viewer", READ),
    ("officer", READ | {Permission.declaration_review, Permission.declaration_amend, Permission.inspection_decide,
                        Permission.inspection_attend, Permission.release_grant, Permission.webhook_manage}),
    ("operator", READ | {Permission.terminal_operate, Permission.webhook_manage}),
    ("admin", READ | {Permission.organisation_manage, Permission.webhook_manage}),
])
def test_grants_follows_the_permissions_table(role, granted):
    assert {p for p in Permission if grants(role, p)} == granted
    assert ROLE_PERMISSIONS[Role(role)] == frozenset(granted)


@pytest.mark.parametrize("role", ["", "root", "Officer", "officer "])
def test_unknown_roles_grant_nothing(role):
    assert not any(grants(role, p) for p in Permission)


def test_every_role_has_permissions_and_org_kinds():
    assert set(ROLE_PERMISSIONS) == set(Role) == set(ROLE_ORG_KINDS)
    assert ROLE_ORG_KINDS[Role.officer] == AGENCY_KINDS == {OrgKind.customs, OrgKind.ciq, OrgKind.border,
                                                            OrgKind.maritime}
    assert ROLE_ORG_KINDS[Role.viewer] == set(OrgKind)
    assert ROLE_ORG_KINDS[Role.declarant] == {OrgKind.enterprise}
    assert ROLE_ORG_KINDS[Role.operator] == {OrgKind.terminal}
    assert ROLE_ORG_KINDS[Role.admin] == {OrgKind.admin}


def test_every_default_role_is_allowed_for_its_kind():
    assert set(DEFAULT_ROLE) == set(OrgKind)
    for kind, role in DEFAULT_ROLE.items():
        assert kind in ROLE_ORG_KINDS[role]


def test_only_reviewing_roles_review_and_only_declarants_file():
    assert [r for r in Role if grants(r, Permission.declaration_review)] == [Role.officer]
    assert [r for r in Role if grants(r, Permission.filing_create)] == [Role.declarant]
    assert [r for r in Role if grants(r, Permission.organisation_manage)] == [Role.admin]


def test_actor_require_raises_forbidden(run):
    viewer = _user(run, "enterprise", "reader", "viewer")
    actor = run(lambda ctx: actor_for(ctx, ENTERPRISE, "reader"))
    assert actor.user.id == viewer.id
    actor.require(Permission.filing_read)
    with pytest.raises(Forbidden) as caught:
        actor.require(Permission.filing_create)
    assert caught.value.status == 403 and "filing:create" in caught.value.message
