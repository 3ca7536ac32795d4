"""The per-process memory of token holders: changes made here are honoured at once, others' within the window."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from onewindow.context import Context
from onewindow.db import make_session_factory, unit_of_work
from onewindow.errors import Unauthenticated
from onewindow.models import OrgKind
from onewindow.parties.service import actor_for, authenticate, digest, ensure_user, get_organisation_by_code

ENT = "91210200MA0QK1P3AF"


@pytest.fixture
def auth(db, settings, clock):
    """``auth(token, seconds)``: authenticate in a unit of work of its own, remembering for ``seconds``."""
    factory = make_session_factory(db)

    def _auth(token: str, seconds: float):
        with unit_of_work(factory) as session:
            ctx = Context(session=session, clock=clock, settings=settings.model_copy(
                update={"auth_cache_seconds": seconds}))
            return authenticate(ctx, token)

    return _auth


def _revoke_behind_the_orms_back(db, token: str) -> None:
    """What another process does: a plain UPDATE, unseen by this process's sessions."""
    with db.begin() as conn:
        conn.execute(text("UPDATE api_tokens SET revoked_at = created_at WHERE digest = :d"), {"d": digest(token)})


def test_another_process_revocation_is_honoured_after_the_window_only(world, db, auth):
    token = world.tokens[ENT]
    assert auth(token, 3600).organisation.code == ENT
    _revoke_behind_the_orms_back(db, token)
    assert auth(token, 3600).organisation.code == ENT  # remembered: within the window
    with pytest.raises(Unauthenticated):
        auth(token, 0)  # no memory: the database says revoked


def test_a_revoked_token_is_not_remembered(world, db, auth):
    token = world.tokens[ENT]
    _revoke_behind_the_orms_back(db, token)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth(token, 3600)


def test_a_role_changed_in_this_process_is_honoured_at_once(world, run, auth):
    token = world.token_with_role(ENT, "clerk", "declarant")["Authorization"].split()[1]
    assert auth(token, 3600).role == "declarant"
    run(lambda ctx: ensure_user(ctx, get_organisation_by_code(ctx, ENT), "clerk", "viewer"))
    assert auth(token, 3600).role == "viewer"


def test_each_request_gets_its_own_detached_copies(world, auth):
    token = world.tokens[ENT]
    first, second = auth(token, 3600), auth(token, 3600)
    assert first.organisation is not second.organisation and first.user is not second.user
    assert first.organisation.id == second.organisation.id and first.user.organisation is first.organisation


def test_the_users_organisation_is_the_actors_whichever_is_asked_for_first(world, auth):
    token = world.tokens[ENT]
    user_first, organisation_first = auth(token, 3600), auth(token, 3600)
    assert user_first.user.organisation is user_first.organisation
    assert organisation_first.organisation is organisation_first.user.organisation
    assert user_first.organisation is not organisation_first.organisation


def test_an_actor_from_the_memory_is_the_actor_of_its_stored_user(world, run, auth):
    """The ids, kind and role come without the objects; they are those of the objects, and of the actor
    made from the stored user."""
    token = world.tokens[ENT]
    auth(token, 3600)
    remembered = auth(token, 3600)
    stored = run(lambda ctx: actor_for(ctx, ENT, "staff"))
    seen = (remembered.org_id, remembered.kind, remembered.user_id, remembered.role)
    assert seen == (stored.org_id, stored.kind, stored.user_id, stored.role)
    assert seen == (remembered.organisation.id, OrgKind(remembered.organisation.kind), remembered.user.id,
                    remembered.user.role)
    assert remembered.organisation.code == ENT and remembered.user.name == "staff"


def test_threads_authenticating_at_once_all_get_the_actor(world, auth):
    token, results, errors = world.tokens[ENT], [], []

    def worker():
        try:
            results.append(auth(token, 3600).org_id)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(results) == 8
