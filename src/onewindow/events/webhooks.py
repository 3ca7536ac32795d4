"""Webhook subscriptions and their deliveries, as their owner manages and inspects them.

An organisation subscribes a URL to some or all of its event types; the relay
(:mod:`onewindow.events.relay`) turns every event the organisation receives
into a delivery and POSTs it, signed per Standard Webhooks with the
subscription's secret. Every query here is scoped to the caller's own
organisation: another organisation's subscription answers 404.

URLs are vetted when subscribed and again before every request: http or https
only, and no host that is (or resolves to) a loopback, private, link-local,
unspecified or otherwise non-public address, unless the operator allows it in
``webhook_allowed_hosts`` — so the platform never calls its own internals.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import uuid
from datetime import datetime, timedelta
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, func, select, text, update
from sqlalchemy.orm import selectinload

from onewindow.config import Settings
from onewindow.context import Context
from onewindow.errors import Conflict, NotFound, ValidationFailed, field_error, parse_id
from onewindow.events.feed import event_document
from onewindow.models import (
    AGENCY_KINDS, DeliveryStatus, Event, EventRecipient, OrgKind, WebhookDelivery, WebhookSubscription,
)
from onewindow.models.event import EVENT_TYPES, recipient_of
from onewindow.parties.permissions import Permission

SECRET_PREFIX = "whsec_"
MAX_OVERLAP_HOURS = 720
"""The longest a replaced secret may keep signing (30 days)."""

TYPE_GROUPS: frozenset[str] = frozenset(t.split(".")[0] for t in EVENT_TYPES)
"""The prefixes a subscription may name as ``<group>.*``."""

Resolver = Callable[[str, int], Sequence[str]]


# --- URL rules ----------------------------------------------------------------------------------------------

class UrlRefused(Exception):
    """A webhook URL the platform will not call; the message says why."""


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _internal_kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is off limits by default (None for a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind, flag in (("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
                       ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                       ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return kind
    return None if ip.is_global else "non-public"


def _allowances(settings: Settings) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names, networks = set(), []
    for entry in settings.webhook_allowed_hosts:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.lower().rstrip("."))
    return names, networks


def vet_url(url: str, settings: Settings, resolve: Resolver = _resolve) -> list[str]:
    """The addresses ``url``'s host resolves to, all allowed; :class:`UrlRefused` naming why otherwise.

    A host named in ``webhook_allowed_hosts`` is allowed as it resolves; any other
    host must resolve only to public addresses or to networks listed there.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UrlRefused(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("must be an http or https URL")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("must name a host")
    names, networks = _allowances(settings)
    literal = True
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        literal = False
        try:
            addresses = list(resolve(host, port))
        except (OSError, UnicodeError):
            raise UrlRefused(f"the host {host} does not resolve") from None
    if host.lower() in names:
        return addresses
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        kind = _internal_kind(ip)
        if kind and not any(ip in net for net in networks):
            named = host if literal else f"{host} resolves to {address}, which"
            raise UrlRefused(f"{named} is a {kind} address; webhooks may only reach public addresses")
    return addresses


# --- types --------------------------------------------------------------------------------------------------

def matches(types: list[str] | None, event_type: str) -> bool:
    """Whether a subscription to ``types`` (None: all) takes events of ``event_type``."""
    if types is None:
        return True
    return any(t == event_type or (t.endswith(".*") and event_type.startswith(t[:-1])) for t in types)


def _check_types(types: list[str] | None) -> tuple[list[str] | None, list[dict[str, Any]]]:
    if types is None:
        return None, []
    if not types:
        return None, [field_error(["types"], "must name at least one event type; leave it out for every type")]
    errors, kept = [], []
    for i, raw in enumerate(types):
        name = raw.strip()
        if name in EVENT_TYPES or (name.endswith(".*") and name[:-2] in TYPE_GROUPS):
            kept.append(name)
        else:
            groups = ", ".join(f"{g}.*" for g in sorted(TYPE_GROUPS))
            errors.append(field_error(["types", i], f"'{name}' is not an event type; name a type such as "
                                                    f"container.released or a group: {groups}"))
    return list(dict.fromkeys(kept)), errors


# --- subscriptions ------------------------------------------------------------------------------------------

def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _start_position(ctx: Context) -> tuple[int, int, str | None]:
    """Where a new subscription's deliveries begin: with the first event committed after it, none missed.

    On PostgreSQL, transactions still running may commit events later with a lower
    position, so the cursor starts at the oldest of them and the snapshot is kept
    to skip the events it already saw committed; on SQLite (one writer) the start
    is simply the last event written.
    """
    if ctx.session.get_bind().dialect.name == "postgresql":
        snapshot = ctx.session.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()
        return int(snapshot.split(":")[0]), 0, snapshot
    return 0, ctx.session.scalar(select(func.max(Event.seq))) or 0, None


def committed_before(tx: int, snapshot: str) -> bool:
    """Whether transaction ``tx`` had committed (or ended) in ``snapshot`` (``xmin:xmax:xip,...``)."""
    xmin, xmax, running = snapshot.split(":")
    return tx < int(xmin) or (tx < int(xmax) and str(tx) not in running.split(","))


def _checked(ctx: Context, url: str | None, types: list[str] | None) -> tuple[str | None, list[str] | None]:
    """``url`` (when given) vetted and stripped, ``types`` normalised; one 422 naming every bad field."""
    errors = []
    if url is not None:
        url = url.strip()
        try:
            vet_url(url, ctx.settings)
        except UrlRefused as refused:
            errors.append(field_error(["url"], str(refused)))
    types, type_errors = _check_types(types)
    if errors or type_errors:
        raise ValidationFailed(errors + type_errors)
    return url, types


_generation = [0]


def subscriptions_generation() -> int:
    """A number that changes whenever a subscription of this process is created, changed or enabled (the
    relays of this process then look at once instead of trusting what they knew)."""
    return _generation[0]


def _changed_on_commit(ctx: Context) -> None:
    """Count a change of subscriptions once the caller's transaction has committed."""

    def changed(_session) -> None:
        _generation[0] += 1

    event.listen(ctx.session, "after_commit", changed, once=True)


def create_subscription(ctx: Context, url: str, types: list[str] | None) -> WebhookSubscription:
    """Subscribe the actor's organisation; its secret is on the returned row (show it once)."""
    actor = ctx.as_actor()
    actor.require(Permission.webhook_manage)
    url, types = _checked(ctx, url, types)
    tx, seq, snapshot = _start_position(ctx)
    sub = WebhookSubscription(organisation_id=actor.org_id, url=url, types=types, secret=new_secret(), enabled=True,
                              failure_streak=0, cursor_tx=tx, cursor_seq=seq, start_snapshot=snapshot,
                              created_at=ctx.now())
    ctx.session.add(sub)
    ctx.session.flush()
    _changed_on_commit(ctx)
    return sub


def list_subscriptions(ctx: Context) -> list[WebhookSubscription]:
    actor = ctx.as_actor()
    actor.require(Permission.webhook_manage)
    query = select(WebhookSubscription).where(WebhookSubscription.organisation_id == actor.org_id)
    return list(ctx.session.scalars(query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)))


def get_subscription(ctx: Context, subscription_id: str | uuid.UUID, *,
                     for_update: bool = False) -> WebhookSubscription:
    """The actor's own subscription (404 for any other), then 403 unless its role manages webhooks."""
    actor = ctx.as_actor()
    query = select(WebhookSubscription).where(WebhookSubscription.id == parse_id(subscription_id, "webhook"),
                                              WebhookSubscription.organisation_id == actor.org_id)
    sub = ctx.session.scalar(query.with_for_update() if for_update else query)
    if sub is None:
        raise NotFound.of("webhook", subscription_id)
    actor.require(Permission.webhook_manage)
    return sub


def update_subscription(ctx: Context, subscription_id: str, changes: dict[str, Any]) -> WebhookSubscription:
    """Change the subscription's ``url`` and/or ``types`` (``None``: every type), with the rules of
    :func:`create_subscription`. Pending deliveries go to the new URL; a new type filter applies to events
    the relay has not yet turned into deliveries. The secret, the position and the history stay."""
    sub = get_subscription(ctx, subscription_id, for_update=True)
    if "url" in changes and changes["url"] is None:
        raise ValidationFailed([field_error(["url"], "a webhook needs a URL; delete the webhook instead")])
    url, types = _checked(ctx, changes.get("url"), changes.get("types"))
    if url is not None:
        sub.url = url
    if "types" in changes:
        sub.types = types
    ctx.session.flush()
    _changed_on_commit(ctx)
    return sub


def rotate_secret(ctx: Context, subscription_id: str, overlap_hours: float | None = None) -> WebhookSubscription:
    """A new signing secret (on the returned row: show it once). For ``overlap_hours`` (the setting
    ``webhook_secret_overlap_hours`` by default; 0: none) every request carries a signature with the old secret
    as well, so the receiver can switch to the new one without refusing anything meanwhile. A rotation during
    an overlap ends the older overlap: only the secret just replaced keeps signing."""
    if overlap_hours is not None and not 0 <= overlap_hours <= MAX_OVERLAP_HOURS:
        raise ValidationFailed([field_error(["overlap_hours"], f"must be from 0 to {MAX_OVERLAP_HOURS} hours")])
    sub = get_subscription(ctx, subscription_id, for_update=True)
    hours = ctx.settings.webhook_secret_overlap_hours if overlap_hours is None else overlap_hours
    sub.previous_secret, sub.previous_secret_until = (sub.secret, ctx.now() + timedelta(hours=hours)) if hours \
        else (None, None)
    sub.secret = new_secret()
    ctx.session.flush()
    return sub


def signing_secrets(secret: str, previous: str | None, previous_until: datetime | None,
                    now: datetime) -> tuple[str, ...]:
    """The secrets a request is signed with at ``now``: the current one, and the previous while it overlaps."""
    return (secret, previous) if previous and previous_until and previous_until > now else (secret,)


def delete_subscription(ctx: Context, subscription_id: str) -> None:
    """Remove the subscription with its deliveries and their attempts."""
    ctx.session.delete(get_subscription(ctx, subscription_id, for_update=True))
    ctx.session.flush()


def enable_subscription(ctx: Context, subscription_id: str) -> WebhookSubscription:
    """Re-enable (after the relay disabled it): the failure streak restarts and pending deliveries are due now."""
    sub = get_subscription(ctx, subscription_id, for_update=True)
    sub.enabled, sub.failure_streak, sub.disabled_at, sub.disabled_reason = True, 0, None, None
    ctx.session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.subscription_id == sub.id,
                               WebhookDelivery.status == DeliveryStatus.pending.value)
                        .values(next_attempt_at=ctx.now()))
    ctx.session.flush()
    _changed_on_commit(ctx)
    return sub


# --- deliveries ---------------------------------------------------------------------------------------------

def list_deliveries(ctx: Context, subscription_id: str, status: DeliveryStatus | None = None, limit: int = 50,
                    offset: int = 0) -> tuple[list[tuple[WebhookDelivery, Event]], int]:
    """The subscription's deliveries with every attempt, newest event first, and how many there are."""
    sub = get_subscription(ctx, subscription_id)
    where = [WebhookDelivery.subscription_id == sub.id]
    if status is not None:
        where.append(WebhookDelivery.status == status.value)
    total = ctx.session.scalar(select(func.count()).select_from(WebhookDelivery).where(*where))
    query = (select(WebhookDelivery, Event).join(Event, Event.seq == WebhookDelivery.event_seq).where(*where)
             .options(selectinload(WebhookDelivery.attempts))
             .order_by(WebhookDelivery.event_tx.desc(), WebhookDelivery.event_seq.desc()).limit(limit).offset(offset))
    return [(d, e) for d, e in ctx.session.execute(query)], total or 0


def redeliver(ctx: Context, subscription_id: str, event_id: str) -> tuple[WebhookDelivery, Event]:
    """Queue ``event_id`` again for the subscription, due now (any event its organisation may see).

    A delivery already under way is let go: its answer is still recorded as an
    attempt, but the redelivery decides the status.
    """
    sub = get_subscription(ctx, subscription_id, for_update=True)
    event = ctx.session.scalar(select(Event).join(EventRecipient, recipient_of(sub.organisation_id))
                               .where(Event.id == parse_id(event_id, "event")))
    if event is None:
        raise NotFound.of("event", event_id)
    if not sub.enabled:
        raise Conflict("the webhook is disabled; enable it before redelivering", code="webhook_disabled")
    now = ctx.now()
    delivery = ctx.session.scalar(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id,
                                                                WebhookDelivery.event_seq == event.seq)
                                  .options(selectinload(WebhookDelivery.attempts)))
    if delivery is None:
        delivery = WebhookDelivery(subscription_id=sub.id, event_seq=event.seq, event_tx=event.tx,
                                   filing_id=event.filing_id, attempt_count=0, created_at=now, attempts=[])
        ctx.session.add(delivery)
    delivery.status, delivery.next_attempt_at, delivery.started_at = DeliveryStatus.pending.value, now, now
    delivery.delivered_at, delivery.locked_until, delivery.claim = None, None, None
    ctx.session.flush()
    return delivery, event


def payload(event: Event, org_kind: str) -> dict[str, Any]:
    """The body sent for ``event`` to an organisation of ``org_kind`` (confidential fields for agencies only)."""
    return event_document(event, confidential=OrgKind(org_kind) in AGENCY_KINDS)


