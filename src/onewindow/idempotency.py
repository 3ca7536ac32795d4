"""``Idempotency-Key``: a retried request gets the first answer, not a second effect.

The key is recorded per organisation in the same transaction as the effect,
before the effect runs, so a concurrent duplicate waits on the key's row and
then answers 409 (retry it to get the stored answer). Reusing a key for a
different request answers 422, as the IETF Idempotency-Key draft advises.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from onewindow.context import Context
from onewindow.errors import Conflict, ValidationFailed, field_error
from onewindow.models import IdempotencyRecord
from onewindow.parties.permissions import Permission

KEY_LOC = ["headers", "Idempotency-Key"]


def _fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise ValidationFailed([field_error(KEY_LOC, "must be 1-255 printable characters")])


def run_once(ctx: Context, key: str | None, request: dict[str, Any],
             action: Callable[[], tuple[int, dict[str, Any]]], *,
             need: Permission | None = None) -> tuple[int, dict[str, Any], bool]:
    """Run ``action`` (→ status, JSON body) once per key; returns (status, body, replayed).

    ``request`` is what makes two requests the same (normalised by the caller: ids parsed, sets sorted).
    ``need``: the permission the action requires, checked before a stored answer is replayed too (a user
    whose role does not grant it gets 403 whatever key it sends)."""
    if need is not None:
        ctx.as_actor().require(need)
    if key is None:
        return *action(), False
    _check_key(key)
    org_id = ctx.as_actor().org_id
    fingerprint = _fingerprint(request)
    record = ctx.session.get(IdempotencyRecord, (org_id, key))
    if record is not None:
        if record.fingerprint != fingerprint:
            raise ValidationFailed([field_error(KEY_LOC, "this key was already used for a different request")])
        return record.status_code, record.response, True
    record = IdempotencyRecord(organisation_id=org_id, key=key, fingerprint=fingerprint, status_code=0,
                               response={}, created_at=ctx.now())
    ctx.session.add(record)
    try:
        ctx.session.flush()
    except IntegrityError:
        raise Conflict("a request with this Idempotency-Key is being processed; retry it",
                       code="idempotency_in_progress") from None
    record.status_code, record.response = action()
    return record.status_code, record.response, False
