"""Web sign-in sessions: server-side rows behind a random cookie token.

The cookie carries 32 random bytes; the database keeps only their SHA-256
digest (like API tokens), the user, the form (CSRF) token of the session and
when it expires. Signing out revokes the row, so a copied cookie stops working
at once; any number of server processes share the rows.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, or_, select

from onewindow.context import Context
from onewindow.models import User, WebSession
from onewindow.parties.service import digest

SLIDE_AFTER = timedelta(minutes=5)
"""A session's expiry moves forward on use, at most this often (so most requests only read)."""


def start_session(ctx: Context, user: User) -> tuple[str, WebSession]:
    """A new session for ``user``: the clear cookie token (returned once, never stored) and the row."""
    token = secrets.token_urlsafe(32)
    now = ctx.now()
    row = WebSession(digest=digest(token), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
                     created_at=now, last_seen_at=now, expires_at=now + _lifetime(ctx))
    ctx.session.add(row)
    ctx.session.flush()
    return token, row


def find_session(ctx: Context, token: str | None) -> WebSession | None:
    """The live session behind a cookie token (None when unknown, revoked or expired); extends its expiry."""
    if not token:
        return None
    row = ctx.session.scalar(select(WebSession).where(WebSession.digest == digest(token)))
    now = ctx.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if now - row.last_seen_at >= SLIDE_AFTER:
        row.last_seen_at, row.expires_at = now, now + _lifetime(ctx)
    return row


def end_session(ctx: Context, token: str | None) -> None:
    """Revoke the session behind ``token`` (nothing happens for an unknown one)."""
    if token and (row := ctx.session.scalar(select(WebSession).where(WebSession.digest == digest(token)))):
        if row.revoked_at is None:
            row.revoked_at = ctx.now()


def purge_sessions(ctx: Context) -> int:
    """Delete the sessions that expired or were revoked more than ``session_retention_days`` ago (until then
    they say who signed in when); returns how many. Run by the scheduler's housekeeping."""
    before = ctx.now() - timedelta(days=ctx.settings.session_retention_days)
    gone = ctx.session.execute(delete(WebSession).where(or_(WebSession.expires_at < before,
                                                            WebSession.revoked_at < before)))
    return gone.rowcount or 0


def _lifetime(ctx: Context) -> timedelta:
    return timedelta(hours=ctx.settings.session_hours)
