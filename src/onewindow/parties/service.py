"""Registering organisations, users and API tokens; authenticating tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select, update

from onewindow.sql import Prepared
from onewindow.context import Actor, Context
from onewindow.errors import Conflict, NotFound, Unauthenticated, ValidationFailed, field_error
from onewindow.models import ApiToken, CreditLevel, Organisation, OrgKind, User
from onewindow.parties import tokens
from onewindow.parties.permissions import DEFAULT_ROLE, ROLE_ORG_KINDS, Role
from onewindow.refdata import validators as v

TOKEN_PREFIX = "ow_"
_SHORT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_USER_NAME = re.compile(r"^[\w.@-]{1,100}$")


def _check_code(kind: OrgKind, code: str) -> str | None:
    """The rule for an organisation's code, by kind; None when valid."""
    if kind is OrgKind.enterprise:
        return v.check_uscc(code)
    if kind is OrgKind.customs:
        return v.check_customs_office(code)
    if kind is OrgKind.ciq:
        return v.check_ciq_office(code)
    if not _SHORT_CODE.fullmatch(code):
        return "must be 2-32 upper-case letters, digits, '-' or '_'"
    return None


def _validate_org(kind: str, code: str, name: str, port: str | None, credit: str | None) -> OrgKind:
    errors = []
    try:
        org_kind = OrgKind(kind)
    except ValueError:
        raise ValidationFailed([field_error(["kind"], f"must be one of {', '.join(OrgKind)}")]) from None
    if msg := _check_code(org_kind, code):
        errors.append(field_error(["code"], msg))
    if not name.strip():
        errors.append(field_error(["name"], "must not be empty"))
    if org_kind is OrgKind.terminal and not port:
        errors.append(field_error(["office"], "a terminal needs the UN/LOCODE of the port it serves"))
    if port and org_kind is not OrgKind.terminal:
        errors.append(field_error(["office"], "only terminals serve a port"))
    elif port and (msg := v.check_location(port)):
        errors.append(field_error(["office"], msg))
    if credit is not None:
        if org_kind is not OrgKind.enterprise:
            errors.append(field_error(["credit"], "only enterprises have a credit level"))
        elif credit not in set(CreditLevel):
            errors.append(field_error(["credit"], f"must be one of {', '.join(CreditLevel)}"))
    if errors:
        raise ValidationFailed(errors)
    return org_kind


def add_organisation(ctx: Context, *, kind: str, code: str, name: str, port: str | None = None,
                     credit_level: str | None = None) -> Organisation:
    """Register an organisation; its code is validated by kind and must be new (409 otherwise); ``port`` is
    the port a terminal serves (required for a terminal, refused for any other kind)."""
    code = code.strip().upper()
    org_kind = _validate_org(kind, code, name, port, credit_level)
    if ctx.session.scalar(select(Organisation).where(Organisation.code == code)):
        raise Conflict(f"an organisation with code {code} is already registered", code="duplicate")
    if org_kind is OrgKind.enterprise and credit_level is None:
        credit_level = CreditLevel.general.value
    org = Organisation(kind=org_kind.value, code=code, name=name.strip(), port=port, credit_level=credit_level,
                       created_at=ctx.now())
    ctx.session.add(org)
    ctx.session.flush()
    return org


def get_organisation_by_code(ctx: Context, code: str) -> Organisation:
    org = ctx.session.scalar(select(Organisation).where(Organisation.code == code.strip().upper()))
    if org is None:
        raise NotFound.of("organisation", code)
    return org


_ORGS = Organisation.__table__
_ORGS_BY_CODE = Prepared(select(_ORGS.c.kind, _ORGS.c.code, _ORGS.c.id).where(
    _ORGS.c.code.in_([bindparam("first"), bindparam("second")])))
"""Organisations with either of two codes (a filing names at most two offices: one query per filing)."""


def find_offices(ctx: Context, wanted: dict[OrgKind, str]) -> dict[OrgKind, uuid.UUID]:
    """The ids of the registered offices among ``wanted`` (kind → code), one query per two codes; missing ones
    are absent."""
    codes = sorted(set(wanted.values()))
    found = {}
    for i in range(0, len(codes), 2):
        pair = codes[i:i + 2]
        for kind, code, org_id in _ORGS_BY_CODE.all(ctx.session, {"first": pair[0], "second": pair[-1]}):
            if wanted.get(OrgKind(kind)) == code:
                found[OrgKind(kind)] = org_id
    return found


def ensure_user(ctx: Context, org: Organisation, name: str, role: str | None = None) -> User:
    """The user ``name`` of ``org``, created with ``role`` (default by kind) if new.

    An existing user keeps its role unless ``role`` is given, which then replaces it.
    """
    if not _USER_NAME.fullmatch(name):
        raise ValidationFailed([field_error(["user"], "1-100 letters, digits, '.', '@', '-' or '_'")])
    role_value = _check_role(org, role) if role else None
    user = ctx.session.scalar(select(User).where(User.organisation_id == org.id, User.name == name))
    if user is None:
        user = User(organisation_id=org.id, name=name, role=role_value or DEFAULT_ROLE[OrgKind(org.kind)].value,
                    created_at=ctx.now())
        ctx.session.add(user)
    elif role_value:
        user.role = role_value
    ctx.session.flush()
    return user


def _check_role(org: Organisation, role: str) -> str:
    try:
        r = Role(role)
    except ValueError:
        raise ValidationFailed([field_error(["role"], f"must be one of {', '.join(Role)}")]) from None
    if OrgKind(org.kind) not in ROLE_ORG_KINDS[r]:
        raise ValidationFailed([field_error(["role"], f"the role '{r}' is not for a {org.kind} organisation")])
    return r.value


_hasher = PasswordHasher()  # Argon2id with the library's (RFC 9106 low-memory) parameters
_NO_USER_HASH = _hasher.hash("no such user")  # verified against when the user is unknown: same time either way
MIN_PASSWORD = 8


def set_password(user: User, password: str) -> None:
    """Store an Argon2id hash of ``password`` (at least 8 characters; 422 naming ``password`` otherwise)."""
    if len(password) < MIN_PASSWORD or len(password) > 200:
        raise ValidationFailed([field_error(["password"], f"must be {MIN_PASSWORD} to 200 characters")])
    user.password_hash = _hasher.hash(password)
    user.failed_sign_ins, user.sign_in_paused_until = 0, None


def check_password(ctx: Context, org_code: str, user_name: str, password: str) -> User | None:
    """The user ``user_name`` of the organisation ``org_code`` if ``password`` is theirs, else None.

    An unknown organisation or user costs one hash verification too, so timing does not tell which
    part was wrong. A hash made with older parameters is upgraded on success.
    """
    user = _user_by_name(ctx, org_code, user_name)
    stored = user.password_hash if user is not None and user.password_hash else _NO_USER_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.password_hash:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt: the user, or nobody; ``paused_until`` when the user's sign-in is
    paused after too many wrong passwords (no password is checked then)."""

    user: User | None
    paused_until: datetime | None = None


def sign_in(ctx: Context, org_code: str, user_name: str, password: str) -> SignIn:
    """:func:`check_password` with a pause against password guessing.

    ``sign_in_attempts`` wrong passwords in a row for one user pause that user's sign-in for
    ``sign_in_pause_minutes`` (the count starts again after the pause); a right password resets the count.
    The count is kept in the same transaction, which the caller commits whatever the outcome (failures are
    returned, not raised). Setting a new password (``onewindow user add``) lifts a pause.
    """
    now = ctx.now()
    user = _user_by_name(ctx, org_code, user_name)
    if user is not None and user.sign_in_paused_until is not None and user.sign_in_paused_until > now:
        return SignIn(None, user.sign_in_paused_until)
    found = check_password(ctx, org_code, user_name, password)
    if found is not None:
        found.failed_sign_ins, found.sign_in_paused_until = 0, None
        return SignIn(found)
    if user is None:
        return SignIn(None)
    failed = ctx.session.execute(update(User).where(User.id == user.id)
                                 .values(failed_sign_ins=User.failed_sign_ins + 1)
                                 .returning(User.failed_sign_ins)).scalar_one()
    if failed < ctx.settings.sign_in_attempts:
        return SignIn(None)
    until = now + timedelta(minutes=ctx.settings.sign_in_pause_minutes)
    ctx.session.execute(update(User).where(User.id == user.id).values(failed_sign_ins=0, sign_in_paused_until=until))
    return SignIn(None, until)


def _user_by_name(ctx: Context, org_code: str, user_name: str) -> User | None:
    return ctx.session.scalar(select(User).join(Organisation, User.organisation_id == Organisation.id).where(
        Organisation.code == org_code.strip().upper(), User.name == user_name.strip()))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(ctx: Context, user: User) -> str:
    """Create an API token for ``user``; the clear token is returned once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    ctx.session.add(ApiToken(user_id=user.id, digest=digest(token), prefix=token[:10], created_at=ctx.now()))
    ctx.session.flush()
    return token


def list_tokens(ctx: Context, org_code: str, user_name: str | None = None) -> list[ApiToken]:
    """The API tokens of an organisation's users (of one user when named), oldest first; 404 for an unknown
    organisation or user."""
    org = get_organisation_by_code(ctx, org_code)
    query = select(ApiToken).join(User, ApiToken.user_id == User.id).where(User.organisation_id == org.id)
    if user_name is not None:
        if _user_by_name(ctx, org.code, user_name) is None:
            raise NotFound.of("user", f"{user_name} of {org.code}")
        query = query.where(User.name == user_name.strip())
    return list(ctx.session.scalars(query.order_by(ApiToken.created_at, ApiToken.prefix)))


def revoke_token(ctx: Context, org_code: str, token_or_prefix: str) -> ApiToken:
    """Revoke one API token of the organisation, named by the whole token or by the prefix ``token list``
    shows; the token answers 401 from then on (within ``auth_cache_seconds`` in other processes).

    404 when no token of the organisation matches; 409 when a prefix matches several (give the whole token)
    or the token is already revoked.
    """
    org = get_organisation_by_code(ctx, org_code)
    value = token_or_prefix.strip()
    match = ApiToken.digest == digest(value) if len(value) > 10 else ApiToken.prefix == value
    found = list(ctx.session.scalars(select(ApiToken).join(User, ApiToken.user_id == User.id)
                                     .where(User.organisation_id == org.id, match)))
    if not found:
        raise NotFound(f"no API token of {org.code} matches {value[:10]}")
    if len(found) > 1:
        raise Conflict(f"{len(found)} tokens of {org.code} start with {value}; give the whole token",
                       code="ambiguous_token")
    [token] = found
    if token.revoked_at is not None:
        raise Conflict(f"the token {token.prefix}… was already revoked at {token.revoked_at.isoformat()}",
                       code="already_revoked")
    token.revoked_at = ctx.now()
    return token


def authenticate(ctx: Context, token: str) -> Actor:
    """The actor behind a bearer token; 401 for an unknown or revoked token.

    Known tokens are remembered for ``settings.auth_cache_seconds`` (see
    :mod:`onewindow.parties.tokens`): a token revoked, or a role changed, by
    another process is honoured within that window; by this process, at once.
    """
    seconds = ctx.settings.auth_cache_seconds
    cache = tokens.cache_for(ctx.session.get_bind()) if seconds > 0 else None
    key = digest(token)
    found = cache.get(key) if cache else None
    if found is None:
        found = _token_holder(ctx, key)
        if found is None:
            raise Unauthenticated("the token is not valid")
        if cache:
            cache.put(key, found, seconds)
    return tokens.actor_of(found)


def _token_holder(ctx: Context, key: str) -> tokens.Holder | None:
    """The organisation and user behind a token digest (one query); None when unknown or revoked."""
    org, user = Organisation.__table__, User.__table__
    row = ctx.session.execute(
        select(ApiToken.__table__.c.revoked_at, *(c.label(f"o_{c.key}") for c in org.c),
               *(c.label(f"u_{c.key}") for c in user.c))
        .select_from(ApiToken.__table__.join(user, user.c.id == ApiToken.__table__.c.user_id)
                     .join(org, org.c.id == user.c.organisation_id))
        .where(ApiToken.__table__.c.digest == key)).mappings().first()
    if row is None or row["revoked_at"] is not None:
        return None
    return tokens.Holder(organisation={c.key: row[f"o_{c.key}"] for c in org.c},
                         user={c.key: row[f"u_{c.key}"] for c in user.c})


def actor_for(ctx: Context, org_code: str, user_name: str | None = None) -> Actor:
    """An actor for the operator CLI: a named user of the organisation, or its first user."""
    org = get_organisation_by_code(ctx, org_code)
    query = select(User).where(User.organisation_id == org.id)
    query = query.where(User.name == user_name) if user_name else query.order_by(User.created_at)
    user = ctx.session.scalars(query).first()
    if user is None:
        role = DEFAULT_ROLE[OrgKind(org.kind)].value
        if user_name:
            raise NotFound.of("user", f"{user_name} of {org.code}")
        return Actor(organisation=org, user=None, role=role)
    return Actor(organisation=org, user=user, role=user.role)
