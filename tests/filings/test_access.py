"""Who may do what on one declaration: 401 without a valid token, 404 for what the caller may not see,
403 for what its role does not allow."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import update

from onewindow.models import ApiToken
from onewindow.parties.service import digest
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"
FILINGS = "/api/v1/filings"
DECLARATIONS = "/api/v1/declarations"


@pytest.fixture
def case(client, world):
    """A filed filing (customs at 0916, CIQ at 210600) and a staged one, both of ENT."""
    raw = sample_entry(seed=121, items=3)
    filed = client.post(FILINGS, json=raw, headers=world.headers(ENT)).json()
    assert client.post(f"{FILINGS}/{filed['id']}/submit", headers=world.headers(ENT)).status_code == 200
    staged = client.post(FILINGS, json=sample_entry(seed=122, items=3), headers=world.headers(ENT)).json()
    return {
        "raw": raw,
        "filing": filed["id"],
        "customs": next(d["id"] for d in filed["declarations"] if d["agency"] == "customs"),
        "ciq": next(d["id"] for d in filed["declarations"] if d["agency"] == "ciq"),
        "staged": staged["id"],
    }


def call(client, method, path, headers, body=None):
    return client.request(method, path, headers=headers, json=body)


def endpoints(case) -> list[tuple[str, str, object]]:
    """Every route of one declaration, with a body valid for it."""
    return [
        ("POST", FILINGS, sample_entry(seed=123)),
        ("GET", FILINGS, None),
        ("GET", f"{FILINGS}/{case['staged']}", None),
        ("PATCH", f"{FILINGS}/{case['staged']}", {"remarks": "x"}),
        ("GET", f"{FILINGS}/{case['staged']}/versions", None),
        ("POST", f"{FILINGS}/{case['staged']}/submit", None),
        ("GET", DECLARATIONS, None),
        ("GET", f"{DECLARATIONS}/{case['customs']}", None),
        ("GET", f"{DECLARATIONS}/{case['customs']}/versions", None),
        ("POST", f"{DECLARATIONS}/{case['customs']}/accept", None),
        ("POST", f"{DECLARATIONS}/{case['customs']}/reject", {"reason": "x"}),
        ("POST", f"{DECLARATIONS}/{case['customs']}/amendments", {"changes": {"remarks": "x"}, "reason": "x"}),
    ]


ENDPOINT_IDS = ["create", "list-filings", "get-filing", "patch-filing", "filing-versions", "submit",
                "list-declarations", "get-declaration", "declaration-versions", "accept", "reject", "amend"]


def assert_unauthenticated(answer):
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"
    assert answer.headers["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("index", range(len(ENDPOINT_IDS)), ids=ENDPOINT_IDS)
def test_every_endpoint_needs_a_valid_token(client, world, case, index):
    method, path, body = endpoints(case)[index]
    assert_unauthenticated(call(client, method, path, {}, body))
    assert_unauthenticated(call(client, method, path, {"Authorization": "Bearer ow_not-a-real-token"}, body))
    # and nothing happened
    seen = client.get(f"{FILINGS}/{case['staged']}", headers=world.headers(ENT)).json()
    assert (seen["version"], seen["status"]) == (1, "draft")
    assert client.get(f"{DECLARATIONS}/{case['customs']}", headers=world.headers(ENT)).json()["status"] == \
        "submitted"
    assert client.get(FILINGS, headers=world.headers(ENT)).json()["total"] == 2


@pytest.mark.parametrize("authorization", ["Basic c3RhZmY6cGFzcw==", "Bearer", "Bearer    ", "Token abc", ""],
                         ids=["basic", "no-token", "blank-token", "other-scheme", "empty"])
def test_a_malformed_authorization_header_is_401(client, world, authorization):
    assert_unauthenticated(client.post(FILINGS, json=sample_entry(seed=126), headers={"Authorization": authorization}))
    assert client.get(FILINGS, headers=world.headers(ENT)).json()["total"] == 0


def test_a_token_of_one_enterprise_is_not_a_token_of_another(client, world, case):
    mine = world.headers(ENT)["Authorization"]
    theirs = world.headers(OTHER)["Authorization"]
    assert mine != theirs
    assert client.get(f"{FILINGS}/{case['filing']}", headers={"Authorization": mine}).status_code == 200
    assert client.get(f"{FILINGS}/{case['filing']}", headers={"Authorization": theirs}).status_code == 404


def test_a_revoked_token_is_refused(client, world, case, run):
    token = world.headers(ENT)["Authorization"].split(" ", 1)[1]
    assert client.get(FILINGS, headers=world.headers(ENT)).status_code == 200
    run(lambda ctx: ctx.session.execute(update(ApiToken).where(ApiToken.digest == digest(token))
                                        .values(revoked_at=ctx.now())))
    assert_unauthenticated(client.get(FILINGS, headers=world.headers(ENT)))


def test_the_token_is_read_case_insensitively_from_the_scheme(client, world, case):
    token = world.headers(ENT)["Authorization"].split(" ", 1)[1]
    answer = client.get(f"{FILINGS}/{case['filing']}", headers={"Authorization": f"bearer {token}"})
    assert answer.status_code == 200, answer.text


# --- what another party may not see: 404 -------------------------------------------------------------------------


FILING_ROUTES = [("GET", ""), ("PATCH", ""), ("GET", "/versions"), ("POST", "/submit")]


@pytest.mark.parametrize("org", [OTHER, "0916", "210600", "0900", "DCT", "PORTOFFICE"],
                         ids=["other-enterprise", "routed-customs", "routed-ciq", "other-customs", "terminal",
                              "admin"])
def test_only_the_enterprise_sees_its_filing(client, world, case, org):
    for filing in (case["staged"], case["filing"]):
        for method, suffix in FILING_ROUTES:
            body = {"remarks": "not mine"} if method == "PATCH" else None
            answer = call(client, method, f"{FILINGS}/{filing}{suffix}", world.headers(org), body)
            assert answer.status_code == 404, (method, suffix, answer.text)
            assert answer.json()["error"]["code"] == "not_found"
    seen = client.get(f"{FILINGS}/{case['staged']}", headers=world.headers(ENT)).json()
    assert (seen["version"], seen["status"]) == (1, "draft")
    assert "remarks" not in seen["data"]


@pytest.mark.parametrize("org", [OTHER, "0916", "210600", "DCT", "PORTOFFICE"])
def test_other_parties_list_none_of_the_enterprises_filings(client, world, case, org):
    answer = client.get(FILINGS, headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"items": [], "total": 0}
    assert client.get(FILINGS, headers=world.headers(ENT)).json()["total"] == 2


def test_another_enterprise_sees_none_of_the_declarations(client, world, case):
    assert client.get(DECLARATIONS, headers=world.headers(OTHER)).json() == []
    for agency in ("customs", "ciq"):
        for suffix in ("", "/versions"):
            answer = client.get(f"{DECLARATIONS}/{case[agency]}{suffix}", headers=world.headers(OTHER))
            assert answer.status_code == 404, answer.text


DECLARATION_ROUTES = [("GET", "", None), ("GET", "/versions", None), ("POST", "/accept", None),
                      ("POST", "/reject", {"reason": "not mine"})]


@pytest.mark.parametrize(("target", "org"), [("customs", "0900"), ("customs", "210600"), ("ciq", "210000"),
                                             ("ciq", "0916"), ("customs", "DCT"), ("ciq", "PORTOFFICE")],
                         ids=["other-customs-office", "ciq-on-customs", "other-ciq-office", "customs-on-ciq",
                              "terminal", "admin"])
def test_only_the_routed_office_sees_a_declaration(client, world, case, target, org):
    for method, suffix, body in DECLARATION_ROUTES:
        answer = call(client, method, f"{DECLARATIONS}/{case[target]}{suffix}", world.headers(org), body)
        assert answer.status_code == 404, (method, suffix, answer.text)
        assert answer.json()["error"]["code"] == "not_found"
    assert case[target] not in [d["id"] for d in client.get(DECLARATIONS, headers=world.headers(org)).json()]
    assert client.get(f"{DECLARATIONS}/{case[target]}", headers=world.headers(ENT)).json()["status"] == "submitted"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", f"{FILINGS}/nope", None),
    ("PATCH", f"{FILINGS}/nope", {"remarks": "x"}),
    ("GET", f"{FILINGS}/nope/versions", None),
    ("POST", f"{FILINGS}/nope/submit", None),
    ("GET", f"{DECLARATIONS}/nope", None),
    ("GET", f"{DECLARATIONS}/nope/versions", None),
    ("POST", f"{DECLARATIONS}/nope/amendments", {"changes": {"remarks": "x"}, "reason": "x"}),
    ("GET", f"{FILINGS}/{uuid.UUID(int=1)}", None),
    ("PATCH", f"{FILINGS}/{uuid.UUID(int=1)}", {"remarks": "x"}),
    ("POST", f"{FILINGS}/{uuid.UUID(int=1)}/submit", None),
    ("GET", f"{DECLARATIONS}/{uuid.UUID(int=1)}", None),
    ("POST", f"{DECLARATIONS}/{uuid.UUID(int=1)}/amendments", {"changes": {"remarks": "x"}, "reason": "x"}),
], ids=["get-filing", "patch-filing", "filing-versions", "submit", "get-declaration", "declaration-versions",
        "amend", "get-unknown-filing", "patch-unknown-filing", "submit-unknown-filing", "get-unknown-declaration",
        "amend-unknown-declaration"])
def test_an_id_that_names_nothing_is_404_for_the_enterprise(client, world, method, path, body):
    answer = call(client, method, path, world.headers(ENT), body)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", [f"{DECLARATIONS}/nope/accept", f"{DECLARATIONS}/nope/reject",
                                  f"{DECLARATIONS}/{uuid.UUID(int=1)}/accept", f"{DECLARATIONS}/nope"],
                         ids=["accept-malformed", "reject-malformed", "accept-unknown", "get-malformed"])
def test_an_id_that_names_nothing_is_404_for_an_agency(client, world, path):
    body = {"reason": "x"} if path.endswith("reject") else None
    answer = call(client, "GET" if path.endswith("nope") else "POST", path, world.headers("0916"), body)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"


# --- what the caller's role does not allow: 403 ------------------------------------------------------------------


def test_a_viewer_of_the_enterprise_reads_but_does_not_change(client, world, case):
    viewer = world.token_with_role(ENT, "auditor", "viewer")
    create = client.post(FILINGS, json=sample_entry(seed=124), headers=viewer)
    assert create.status_code == 403, create.text
    assert create.json()["error"]["code"] == "forbidden"
    patch = client.patch(f"{FILINGS}/{case['staged']}", json={"remarks": "x"}, headers=viewer)
    assert patch.status_code == 403, patch.text
    submit = client.post(f"{FILINGS}/{case['staged']}/submit", headers=viewer)
    assert submit.status_code == 403, submit.text
    submit_with_key = client.post(f"{FILINGS}/{case['staged']}/submit", headers={**viewer, "Idempotency-Key": "v1"})
    assert submit_with_key.status_code == 403, submit_with_key.text
    amend = client.post(f"{DECLARATIONS}/{case['customs']}/amendments",
                        json={"changes": {"remarks": "x"}, "reason": "x"}, headers=viewer)
    assert amend.status_code == 403, amend.text

    for path in (f"{FILINGS}/{case['staged']}", f"{FILINGS}/{case['filing']}", f"{FILINGS}/{case['staged']}/versions",
                 f"{DECLARATIONS}/{case['customs']}", f"{DECLARATIONS}/{case['customs']}/versions"):
        assert client.get(path, headers=viewer).status_code == 200, path
    assert client.get(FILINGS, headers=viewer).json()["total"] == 2
    assert len(client.get(DECLARATIONS, headers=viewer).json()) == 4

    staged = client.get(f"{FILINGS}/{case['staged']}", headers=world.headers(ENT)).json()
    assert (staged["version"], staged["status"]) == (1, "draft")
    assert client.get(FILINGS, headers=world.headers(ENT)).json()["total"] == 2
    assert client.get(f"{DECLARATIONS}/{case['customs']}", headers=viewer).json()["version"] == 1


def test_a_viewer_of_another_enterprise_gets_404_not_403(client, world, case):
    viewer = world.token_with_role(OTHER, "auditor", "viewer")
    assert client.get(f"{FILINGS}/{case['staged']}", headers=viewer).status_code == 404
    assert client.patch(f"{FILINGS}/{case['staged']}", json={"remarks": "x"}, headers=viewer).status_code == 404


@pytest.mark.parametrize(("suffix", "body"), [("/accept", None), ("/reject", {"reason": "x"})],
                         ids=["accept", "reject"])
@pytest.mark.parametrize("target", ["customs", "ciq"])
def test_the_enterprise_cannot_answer_its_own_declaration(client, world, case, suffix, body, target):
    answer = call(client, "POST", f"{DECLARATIONS}/{case[target]}{suffix}", world.headers(ENT), body)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    seen = client.get(f"{DECLARATIONS}/{case[target]}", headers=world.headers(ENT)).json()
    assert (seen["status"], seen["number"], seen["receipt"]) == ("submitted", None, None)


def test_a_viewer_at_the_routed_office_reads_but_cannot_accept(client, world, case):
    viewer = world.token_with_role("0916", "trainee", "viewer")
    assert client.get(f"{DECLARATIONS}/{case['customs']}", headers=viewer).status_code == 200
    assert client.post(f"{DECLARATIONS}/{case['customs']}/accept", headers=viewer).status_code == 403
    assert client.post(f"{DECLARATIONS}/{case['customs']}/reject", json={"reason": "x"},
                       headers=viewer).status_code == 403
    amend = client.post(f"{DECLARATIONS}/{case['customs']}/amendments",
                        json={"changes": {"remarks": "x"}, "reason": "x"}, headers=viewer)
    assert amend.status_code == 403, amend.text
    # a second officer of the office may
    officer = world.token_with_role("0916", "officer2", "officer")
    assert client.post(f"{DECLARATIONS}/{case['customs']}/accept", headers=officer).status_code == 200


@pytest.mark.parametrize("org", ["0916", "210600", "DCT", "PORTOFFICE"])
def test_only_an_enterprise_creates_filings(client, world, org):
    answer = client.post(FILINGS, json=sample_entry(seed=125), headers=world.headers(org))
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"]["code"] == "forbidden"
    assert client.get(FILINGS, headers=world.headers(ENT)).json()["total"] == 0
