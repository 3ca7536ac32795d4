"""A short-lived, per-process memory of who holds which API token.

Every request authenticates its bearer token; asking the database each time
costs about as much as the rest of a small request. A known token's holder
(organisation and user, as stored) is kept for ``auth_cache_seconds``
(default 5 s, 0 turns the memory off), per database engine.

Freshness: any change this process writes to API tokens, users or
organisations (through the ORM: a revoked token, a new role) empties the
memory when it is flushed and again when it is committed, so this process
honours it at once. A change written by another process (another
``onewindow serve`` worker, the CLI) is honoured within the window. Unknown
and revoked tokens are never remembered. The window is measured on the
process's monotonic clock: it is a cache lifetime, not domain time.

Each request gets its own detached copies of the organisation and the user,
each made when the request first asks for it, so no ORM instance is shared
between threads or sessions.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from onewindow.context import Actor
from onewindow.models import ApiToken, Organisation, User
from onewindow.rows import detached
from onewindow.sql import loaded

WATCHED = (ApiToken, Organisation, User)
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Holder:
    """The stored columns of a token's organisation and user; it makes an actor's own copies of them
    (:class:`onewindow.context.Copies`)."""

    organisation: dict[str, Any]
    user: dict[str, Any]

    def copy_organisation(self) -> Organisation:
        return _detached(Organisation, self.organisation)

    def copy_user(self, organisation: Organisation) -> User:
        return _detached(User, self.user, organisation=organisation)


class TokenCache:
    """Token digest → :class:`Holder`, each entry valid for a bounded time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Holder]] = {}

    def get(self, key: str) -> Holder | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            with self._lock:
                self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, holder: Holder, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + seconds, holder)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_caches: weakref.WeakKeyDictionary[Engine, TokenCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(bind: Any) -> TokenCache:
    """The token memory of the database ``bind`` (an engine or a connection) is on."""
    engine = getattr(bind, "engine", bind)
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(engine, TokenCache())
    return cache


def forget_all() -> None:
    """Empty every engine's token memory (a token, user or organisation changed)."""
    for cache in list(_caches.values()):
        cache.clear()


def actor_of(holder: Holder) -> Actor:
    """An actor with its own detached copies of the holder's organisation and user, each made when first
    asked for (most requests need only the ids, the kind and the role)."""
    return Actor.deferred(org_id=holder.organisation["id"], kind=holder.organisation["kind"],
                          user_id=holder.user["id"], role=holder.user["role"], copies=holder)


def _detached(model: type, values: dict[str, Any], **related: Any) -> Any:
    """A detached copy made as the ORM loads rows (values placed as stored, no change events), a third of
    what building it through its constructor costs."""
    return detached(loaded(model, **values, **related))


def _touches_holders(session: Session) -> bool:
    return any(isinstance(obj, WATCHED) for group in (session.dirty, session.deleted) for obj in group)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    if _touches_holders(session):
        session.info["onewindow.tokens_changed"] = True
        forget_all()


@event.listens_for(Session, "do_orm_execute")
def _bulk_change(state) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None \
            and state.bind_mapper.class_ in WATCHED:
        state.session.info["onewindow.tokens_changed"] = True
        forget_all()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("onewindow.tokens_changed", False):
        forget_all()
