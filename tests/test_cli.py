"""The operator CLI (``onewindow ...``) against the test database, through Click's test runner."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select
from typer.testing import CliRunner

from onewindow.cli import app as cli_app
from onewindow.config import get_settings
from onewindow.db import make_session_factory
from onewindow.migrate import alembic_config
from onewindow.models import ApiToken, Organisation, User
from onewindow.samples import sample_entry

ENTERPRISE = "91210200MA0QK1P3AF"
OTHER_ENTERPRISE = "91210211MA0XY7L2XK"
BAD_CHECK_USCC = "91210200MA0QK1P3AG"  # ENTERPRISE with a wrong check character


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


class Cli:
    """Runs ``onewindow`` commands; stdout and stderr are kept apart (Click >= 8.2)."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None):
        return self.runner.invoke(cli_app, [str(a) for a in args], input=input)

    def ok(self, *args: str, input: str | None = None):
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str, input: str | None = None):
        return json.loads(self.ok(*args, input=input).stdout)

    def error(self, *args: str, input: str | None = None) -> dict:
        """Run a command that must fail with status 1 and the API's error shape on stderr."""
        result = self(*args, input=input)
        assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
        assert result.stdout == ""
        doc = json.loads(result.stderr)
        assert set(doc) == {"error"}
        assert set(doc["error"]) == {"code", "message", "details"}
        assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
        return doc["error"]


def _use_database(monkeypatch, url: str) -> None:
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", url)
    get_settings.cache_clear()


@pytest.fixture
def cli(db, database_url, monkeypatch):
    """The CLI pointed at the migrated test database (wiped after the test)."""
    _use_database(monkeypatch, database_url)
    yield Cli()
    get_settings.cache_clear()


@pytest.fixture
def fresh_cli(tmp_path, monkeypatch):
    """The CLI pointed at a SQLite file that was never initialised."""
    url = f"sqlite:///{tmp_path / 'fresh' / 'onewindow.db'}"
    _use_database(monkeypatch, url)
    yield Cli(), url
    get_settings.cache_clear()


def fields(error: dict) -> list[list]:
    return [d["loc"] for d in error["details"]]


def register_port(cli: Cli) -> dict[str, str]:
    """Customs 0916, CIQ 210600, the terminal DCT and an enterprise, each with a user; their tokens."""
    cli.ok("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    cli.ok("org", "add", "--kind", "ciq", "--code", "210600", "--name", "大窑湾检验检疫")
    cli.ok("org", "add", "--kind", "terminal", "--code", "DCT", "--name", "大连集装箱码头", "--office", "CNDAG")
    cli.ok("org", "add", "--kind", "enterprise", "--code", ENTERPRISE, "--name", "大连远洋食品贸易有限公司")
    return {code: cli.ok("token", "add", "--org", code, "--user", user).stdout.splitlines()[-1]
            for code, user in [("0916", "officer"), ("210600", "inspector"), ("DCT", "ops"),
                               (ENTERPRISE, "clerk")]}


def write_json(path: Path, data) -> str:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


# --- init ---------------------------------------------------------------------------------------------------


def test_init_is_idempotent_and_prints_the_revision(cli, database_url):
    head = head_revision(database_url)
    first = cli.ok("init")
    second = cli.ok("init")
    for result in (first, second):
        assert result.stdout.strip().endswith(f"is at revision {head}")
    assert first.stdout == second.stdout


def test_init_creates_a_fresh_database_then_commands_work(fresh_cli):
    cli, url = fresh_cli
    result = cli.ok("init")
    assert f"is at revision {head_revision(url)}" in result.stdout
    assert Path(url.removeprefix("sqlite:///")).exists()
    org = cli.json("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    assert org["code"] == "0916"
    assert cli.ok("init").stdout == result.stdout


@pytest.mark.parametrize("args", [
    ["org", "add", "--kind", "customs", "--code", "0916", "--name", "x"],
    ["token", "add", "--org", "0916", "--user", "officer"],
    ["filing", "list", "--org", ENTERPRISE],
    ["declaration", "list", "--org", "0916"],
])
def test_commands_on_an_uninitialised_database_say_to_run_init(fresh_cli, args):
    cli, url = fresh_cli
    error = cli.error(*args)
    assert error["code"] == "not_initialised"
    assert "onewindow init" in error["message"]
    assert url in error["message"]


# --- org add ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "code", "extra", "port", "credit"), [
    ("enterprise", ENTERPRISE, [], None, "general"),
    ("enterprise", OTHER_ENTERPRISE, ["--credit", "advanced"], None, "advanced"),
    ("customs", "0916", [], None, None),
    ("ciq", "210600", [], None, None),
    ("border", "DLBORDER", [], None, None),
    ("maritime", "DLMSA", [], None, None),
    ("terminal", "DCT", ["--office", "CNDAG"], "CNDAG", None),
    ("admin", "PORTOFFICE", [], None, None),
])
def test_org_add_registers_every_kind(cli, db, kind, code, extra, port, credit):
    out = cli.json("org", "add", "--kind", kind, "--code", code, "--name", f"{kind} 名称", *extra)
    assert out["kind"] == kind and out["code"] == code and out["name"] == f"{kind} 名称"
    assert out["port"] == port and out["credit_level"] == credit
    with make_session_factory(db)() as session:
        org = session.scalar(select(Organisation).where(Organisation.code == code))
        assert str(org.id) == out["id"]
        assert (org.kind, org.port, org.credit_level) == (kind, port, credit)


def test_org_add_normalises_the_code_to_upper_case(cli):
    out = cli.json("org", "add", "--kind", "terminal", "--code", " dct ", "--name", "码头", "--office", "CNDAG")
    assert out["code"] == "DCT"


@pytest.mark.parametrize(("args", "field", "words"), [
    (["--kind", "enterprise", "--code", BAD_CHECK_USCC], "code", "check character"),
    (["--kind", "enterprise", "--code", ENTERPRISE[:-1]], "code", "18 characters"),
    (["--kind", "customs", "--code", "916"], "code", "4 digits"),
    (["--kind", "customs", "--code", "09160"], "code", "4 digits"),
    (["--kind", "customs", "--code", "09A6"], "code", "4 digits"),
    (["--kind", "ciq", "--code", "21060"], "code", "6 digits"),
    (["--kind", "ciq", "--code", "2106000"], "code", "6 digits"),
    (["--kind", "terminal", "--code", "DCT"], "office", "UN/LOCODE"),
    (["--kind", "terminal", "--code", "DCT", "--office", "CNXXX"], "office", "CNXXX"),
    (["--kind", "terminal", "--code", "DCT", "--office", "USNYC"], "office", "not in China"),
    (["--kind", "bank", "--code", "ICBC"], "kind", "enterprise"),
    (["--kind", "customs", "--code", "0916", "--credit", "advanced"], "credit", "only enterprises"),
    (["--kind", "enterprise", "--code", ENTERPRISE, "--credit", "platinum"], "credit", "general"),
    *[(["--kind", kind, "--code", code, "--office", "CNDAG"], "office", "only terminals")
      for kind, code in [("customs", "0901"), ("ciq", "210601"), ("enterprise", ENTERPRISE),
                         ("border", "DLBORDER"), ("maritime", "DLMSA"), ("admin", "PORTOFFICE")]],
])
def test_org_add_refuses_invalid_input_naming_the_field(cli, db, args, field, words):
    error = cli.error("org", "add", *args, "--name", "某机构")
    assert error["code"] == "validation_failed"
    assert fields(error) == [[field]]
    assert words in error["details"][0]["msg"]
    with make_session_factory(db)() as session:
        assert session.scalars(select(Organisation)).all() == []


def test_org_add_names_every_bad_field_at_once(cli):
    error = cli.error("org", "add", "--kind", "terminal", "--code", "x", "--name", " ")
    assert sorted(fields(error)) == [["code"], ["name"], ["office"]]


def test_org_add_refuses_a_duplicate_code(cli, db):
    cli.ok("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    error = cli.error("org", "add", "--kind", "customs", "--code", "0916", "--name", "again")
    assert error["code"] == "duplicate"
    assert "0916" in error["message"]
    with make_session_factory(db)() as session:
        assert [o.name for o in session.scalars(select(Organisation))] == ["大窑湾海关"]


def test_org_add_without_a_required_option_is_a_usage_error(cli):
    result = cli("org", "add", "--kind", "customs", "--code", "0916")
    assert result.exit_code == 2
    assert "--name" in result.stderr


def test_serve_refuses_fewer_than_one_worker(cli):
    result = cli("serve", "--workers", "0")
    assert result.exit_code == 2
    assert "--workers" in result.stderr and "greater than or equal to 1" in result.stderr


def test_serve_refuses_more_workers_than_it_may_start(cli):
    result = cli("serve", "--workers", "100000")
    assert result.exit_code == 2
    assert "--workers" in result.stderr and "less than or equal to 64" in result.stderr


# --- token add ----------------------------------------------------------------------------------------------


def test_token_add_prints_a_working_token_stored_only_as_its_digest(cli, db, client):
    cli.ok("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    result = cli.ok("token", "add", "--org", "0916", "--user", "wang.li")
    lines = result.stdout.splitlines()
    token = lines[-1]
    assert token == token.strip() and " " not in token and token.startswith("ow_")
    assert "wang.li" in lines[0] and "officer" in lines[0]

    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["organisation"]["code"] == "0916"
    assert me.json()["user"] == "wang.li" and me.json()["role"] == "officer"

    with make_session_factory(db)() as session:
        rows = session.scalars(select(ApiToken)).all()
        assert len(rows) == 1
        assert rows[0].digest == hashlib.sha256(token.encode()).hexdigest()
        assert rows[0].digest != token and token not in rows[0].prefix + rows[0].digest
        assert token.startswith(rows[0].prefix) and len(rows[0].prefix) < len(token)


def test_token_add_twice_keeps_one_user_and_issues_distinct_tokens(cli, db, client):
    cli.ok("org", "add", "--kind", "enterprise", "--code", ENTERPRISE, "--name", "远洋食品")
    first = cli.ok("token", "add", "--org", ENTERPRISE, "--user", "clerk").stdout.splitlines()[-1]
    second = cli.ok("token", "add", "--org", ENTERPRISE, "--user", "clerk", "--role", "viewer")
    assert "viewer" in second.stdout.splitlines()[0]
    second_token = second.stdout.splitlines()[-1]
    assert first != second_token
    with make_session_factory(db)() as session:
        users = session.scalars(select(User)).all()
        assert [(u.name, u.role) for u in users] == [("clerk", "viewer")]
    for token in (first, second_token):
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["role"] == "viewer"


@pytest.mark.parametrize(("kind", "code", "extra", "role"), [
    ("customs", "0916", [], "declarant"),
    ("enterprise", ENTERPRISE, [], "officer"),
    ("terminal", "DCT", ["--office", "CNDAG"], "admin"),
    ("customs", "0916", [], "superuser"),
])
def test_token_add_refuses_a_role_not_for_the_org_kind(cli, db, kind, code, extra, role):
    cli.ok("org", "add", "--kind", kind, "--code", code, "--name", "某机构", *extra)
    error = cli.error("token", "add", "--org", code, "--user", "someone", "--role", role)
    assert error["code"] == "validation_failed"
    assert fields(error) == [["role"]]
    with make_session_factory(db)() as session:
        assert session.scalars(select(User)).all() == []
        assert session.scalars(select(ApiToken)).all() == []


def test_token_add_for_an_unknown_organisation_is_not_found(cli):
    error = cli.error("token", "add", "--org", "0999", "--user", "nobody")
    assert error["code"] == "not_found"
    assert "0999" in error["message"]


def test_token_list_and_revoke(cli, client):
    cli.ok("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    first = cli.ok("token", "add", "--org", "0916", "--user", "wang.li").stdout.splitlines()[-1]
    second = cli.ok("token", "add", "--org", "0916", "--user", "li.na").stdout.splitlines()[-1]
    listed = cli.ok("token", "list", "--org", "0916").stdout.splitlines()
    assert listed[0] == "prefix\tuser\tcreated\trevoked"
    assert {tuple(line.split("\t")[:2]) for line in listed[1:]} == {(first[:10], "wang.li"), (second[:10], "li.na")}
    assert [line.split("\t")[3] for line in listed[1:]] == ["-", "-"]
    assert cli.ok("token", "revoke", "--org", "0916", first[:10]).stdout.startswith(f"revoked {first[:10]}… of wang.li")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    [mine] = cli.ok("token", "list", "--org", "0916", "--user", "wang.li").stdout.splitlines()[1:]
    assert mine.split("\t")[3] != "-"
    assert cli.error("token", "revoke", "--org", "0916", first)["code"] == "already_revoked"  # the whole token
    assert cli.error("token", "revoke", "--org", "0916", "ow_nothing")["code"] == "not_found"
    assert cli.error("token", "list", "--org", "0916", "--user", "nobody")["code"] == "not_found"
    cli.ok("org", "add", "--kind", "ciq", "--code", "210600", "--name", "大窑湾检验检疫")
    assert cli.error("token", "revoke", "--org", "210600", second[:10])["code"] == "not_found"  # not its token


def test_token_add_refuses_an_invalid_user_name(cli):
    cli.ok("org", "add", "--kind", "customs", "--code", "0916", "--name", "大窑湾海关")
    error = cli.error("token", "add", "--org", "0916", "--user", "two words")
    assert fields(error) == [["user"]]


# --- the declaration flow -----------------------------------------------------------------------------------


def test_the_whole_declaration_flow_through_the_cli(cli, client, tmp_path):
    tokens = register_port(cli)
    entry_file = write_json(tmp_path / "entry.json", sample_entry(seed=7))

    created = cli.json("filing", "create", "--org", ENTERPRISE, entry_file)
    assert created["status"] == "draft" and created["version"] == 1
    assert [(d["agency"], d["status"], d["number"]) for d in created["declarations"]] == [
        ("ciq", "draft", None), ("customs", "draft", None)]
    filing_id = created["id"]
    decl = {d["agency"]: d["id"] for d in created["declarations"]}

    listed = cli.json("filing", "list", "--org", ENTERPRISE)
    assert [f["id"] for f in listed] == [filing_id]
    assert cli.json("filing", "list", "--org", ENTERPRISE, "--status", "filed") == []

    patch = write_json(tmp_path / "patch.json", {"remarks": "请尽快查验 urgent"})
    edited = cli.json("filing", "edit", "--org", ENTERPRISE, filing_id, patch)
    assert edited["version"] == 2 and edited["data"]["remarks"] == "请尽快查验 urgent"

    submitted = cli.json("filing", "submit", "--org", ENTERPRISE, filing_id, "--agency", "customs")
    by_agency = {d["agency"]: d["status"] for d in submitted["declarations"]}
    assert by_agency == {"customs": "submitted", "ciq": "draft"}
    assert submitted["status"] == "draft"

    queue = cli.json("declaration", "list", "--org", "0916", "--status", "submitted")
    assert [(d["id"], d["agency"], d["office"]) for d in queue] == [(decl["customs"], "customs", "0916")]
    assert cli.json("declaration", "list", "--org", "210600", "--status", "submitted") == []

    accepted = cli.json("declaration", "accept", "--org", "0916", decl["customs"])
    assert accepted["status"] == "accepted"
    assert re.fullmatch(r"0916\d{4}1\d{9}", accepted["number"])
    assert accepted["receipt"]["outcome"] == "accepted" and accepted["receipt"]["number"] == accepted["number"]

    filed = cli.json("filing", "submit", "--org", ENTERPRISE, filing_id)
    assert filed["status"] == "filed"
    assert {d["agency"]: d["status"] for d in filed["declarations"]} == {"customs": "accepted",
                                                                          "ciq": "submitted"}
    ciq_queue = cli.json("declaration", "list", "--org", "210600", "--status", "submitted")
    assert [d["id"] for d in ciq_queue] == [decl["ciq"]]

    # The enterprise amends the accepted customs declaration; CIQ, which also carries the goods, is told.
    items = [{**item, "name": item["name"] + " (更正)"} for item in created["data"]["items"]]
    changes = write_json(tmp_path / "changes.json", {"items": items})
    amended = cli.json("declaration", "amend", "--org", ENTERPRISE, decl["customs"], changes,
                       "--reason", "商品名称更正")
    assert amended["version"] == 2 and amended["status"] == "accepted"
    assert amended["number"] == accepted["number"]
    assert [i["name"] for i in amended["data"]["items"]] == [i["name"] for i in items]
    assert amended["notices"] == []

    shown = cli.json("declaration", "show", "--org", "210600", decl["ciq"])
    assert shown["id"] == decl["ciq"] and shown["status"] == "submitted"
    assert len(shown["notices"]) == 1
    notice = shown["notices"][0]
    assert notice["source_declaration_id"] == decl["customs"] and notice["source_agency"] == "customs"
    assert notice["source_version"] == 2 and notice["changed_fields"] == ["items"]
    assert notice["reason"] == "商品名称更正"

    # The same state is what the API answers.
    over_http = client.get(f"/api/v1/declarations/{decl['ciq']}",
                           headers={"Authorization": f"Bearer {tokens['210600']}"}).json()
    assert [n["id"] for n in over_http["notices"]] == [notice["id"]]
    filing_http = client.get(f"/api/v1/filings/{filing_id}",
                             headers={"Authorization": f"Bearer {tokens[ENTERPRISE]}"}).json()
    assert {d["agency"]: d["number"] for d in filing_http["declarations"]} == {"customs": accepted["number"],
                                                                               "ciq": None}
    assert filing_http["version"] == 3 == cli.json("filing", "show", "--org", ENTERPRISE, filing_id)["version"]


def test_an_office_rejects_through_the_cli(cli, client, tmp_path):
    tokens = register_port(cli)
    created = cli.json("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json",
                                                                            sample_entry(seed=13)))
    decl = {d["agency"]: d["id"] for d in created["declarations"]}
    cli.ok("filing", "submit", "--org", ENTERPRISE, created["id"])
    rejected = cli.json("declaration", "reject", "--org", "210600", decl["ciq"], "--reason", " 缺少卫生证书 ")
    assert rejected["id"] == decl["ciq"]
    assert rejected["status"] == "rejected" and rejected["number"] is None
    assert rejected["receipt"] == {"outcome": "rejected", "number": None, "reason": "缺少卫生证书",
                                   "at": rejected["receipt"]["at"]}
    assert cli.json("declaration", "list", "--org", "210600", "--status", "submitted") == []
    assert [d["id"] for d in cli.json("declaration", "list", "--org", "210600", "--status", "rejected")] == [
        decl["ciq"]]
    # The enterprise sees the reason; the customs declaration is untouched.
    seen = client.get(f"/api/v1/filings/{created['id']}",
                      headers={"Authorization": f"Bearer {tokens[ENTERPRISE]}"}).json()
    receipts = {d["agency"]: (d["status"], d["receipt"]) for d in seen["declarations"]}
    assert receipts["ciq"][0] == "rejected" and receipts["ciq"][1]["reason"] == "缺少卫生证书"
    assert receipts["customs"] == ("submitted", None)
    # An answered declaration cannot be answered again.
    error = cli.error("declaration", "accept", "--org", "210600", decl["ciq"])
    assert error["code"] == "not_submitted"


def test_filing_create_reads_the_entry_from_stdin(cli):
    register_port(cli)
    created = cli.json("filing", "create", "--org", ENTERPRISE, "-",
                       input=json.dumps(sample_entry(seed=8, inspected=False)))
    assert [d["agency"] for d in created["declarations"]] == ["customs"]


def test_the_flow_refuses_actions_out_of_turn(cli, tmp_path):
    register_port(cli)
    created = cli.json("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json",
                                                                            sample_entry(seed=9)))
    decl = {d["agency"]: d["id"] for d in created["declarations"]}
    # An office does not see drafts: 404, never a hint that the record exists.
    assert cli.error("declaration", "accept", "--org", "0916", decl["customs"])["code"] == "not_found"
    cli.ok("filing", "submit", "--org", ENTERPRISE, created["id"])
    # CIQ may not answer the customs declaration (it cannot even see it).
    assert cli.error("declaration", "accept", "--org", "210600", decl["customs"])["code"] == "not_found"
    # The enterprise may see it but lacks the right to review.
    assert cli.error("declaration", "accept", "--org", ENTERPRISE, decl["customs"])["code"] == "forbidden"
    cli.ok("declaration", "accept", "--org", "0916", decl["customs"])
    assert cli.error("declaration", "accept", "--org", "0916", decl["customs"])["code"] == "not_submitted"
    assert cli.error("filing", "submit", "--org", ENTERPRISE, created["id"])["code"] == "nothing_staged"
    patch = write_json(tmp_path / "p.json", {"remarks": "late"})
    assert cli.error("filing", "edit", "--org", ENTERPRISE, created["id"], patch)["code"] == "filed"
    error = cli.error("declaration", "reject", "--org", "210600", decl["ciq"], "--reason", " ")
    assert fields(error) == [["reason"]]


def test_filing_create_with_a_file_that_is_not_json_names_line_and_column(cli, tmp_path):
    register_port(cli)
    bad = tmp_path / "entry.json"
    bad.write_text('{\n  "direction": "import",\n  "port": CNDAG\n}\n', encoding="utf-8")
    error = cli.error("filing", "create", "--org", ENTERPRISE, str(bad))
    assert error["code"] == "validation_failed"
    assert str(bad) in error["message"]
    [detail] = error["details"]
    assert detail["loc"] == []
    assert detail["msg"].startswith(f"{bad}: line 3 column 11:")


def test_filing_create_with_a_missing_file_fails(cli, tmp_path):
    register_port(cli)
    missing = tmp_path / "nope.json"
    error = cli.error("filing", "create", "--org", ENTERPRISE, str(missing))
    assert error["code"] == "unreadable_file"
    assert str(missing) in error["message"]


def test_filing_create_with_bad_fields_names_each_one(cli, db, tmp_path):
    register_port(cli)
    entry = sample_entry(seed=10)
    entry["containers"][0]["number"] = "CSQU3054384"  # wrong ISO 6346 check digit
    entry["items"][1]["hs_code"] = "12"
    entry["customs_office"] = "0999"  # well-formed, not registered
    del entry["currency"]
    error = cli.error("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json", entry))
    assert error["code"] == "validation_failed"
    locs = fields(error)
    assert ["containers", 0, "number"] in locs
    assert ["items", 1, "hs_code"] in locs
    assert ["currency"] in locs
    assert len(error["details"]) == len(locs) >= 3
    assert cli.json("filing", "list", "--org", ENTERPRISE) == []


def test_filing_create_routes_to_registered_offices_only(cli, tmp_path):
    register_port(cli)
    entry = sample_entry(seed=11, customs_office="0900")
    error = cli.error("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json", entry))
    assert fields(error) == [["customs_office"]]
    assert "0900" in error["details"][0]["msg"]


def test_declaration_amend_needs_a_json_object(cli, tmp_path):
    register_port(cli)
    created = cli.json("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json",
                                                                            sample_entry(seed=12)))
    cli.ok("filing", "submit", "--org", ENTERPRISE, created["id"])
    customs = next(d["id"] for d in created["declarations"] if d["agency"] == "customs")
    for doc in ([1, 2], {}):
        error = cli.error("declaration", "amend", "--org", ENTERPRISE, customs,
                          write_json(tmp_path / "c.json", doc), "--reason", "x")
        assert fields(error) == [["changes"]]
    error = cli.error("declaration", "amend", "--org", ENTERPRISE, customs,
                      write_json(tmp_path / "c.json", {"bill_of_lading": "not valid!"}), "--reason", "x")
    assert fields(error) == [["changes", "bill_of_lading"]]


def test_declaration_amend_refuses_an_empty_reason_as_the_api_does(cli, client, tmp_path):
    tokens = register_port(cli)
    created = cli.json("filing", "create", "--org", ENTERPRISE, write_json(tmp_path / "e.json",
                                                                            sample_entry(seed=12)))
    cli.ok("filing", "submit", "--org", ENTERPRISE, created["id"])
    customs = next(d["id"] for d in created["declarations"] if d["agency"] == "customs")
    changes = {"remarks": "更正"}
    for reason in ("", "   "):
        error = cli.error("declaration", "amend", "--org", ENTERPRISE, customs,
                          write_json(tmp_path / "c.json", changes), "--reason", reason)
        assert error["code"] == "validation_failed" and fields(error) == [["reason"]]
        over_http = client.post(f"/api/v1/declarations/{customs}/amendments",
                                json={"changes": changes, "reason": reason},
                                headers={"Authorization": f"Bearer {tokens[ENTERPRISE]}"})
        assert over_http.status_code == 422 and over_http.json()["error"]["details"] == error["details"]
    shown = cli.json("declaration", "show", "--org", ENTERPRISE, customs)
    assert shown["version"] == 1 and shown["data"].get("remarks") != "更正"
    assert cli.json("filing", "show", "--org", ENTERPRISE, created["id"])["version"] == 1


@pytest.mark.parametrize(("command", "org", "path", "statuses"), [
    ("filing", ENTERPRISE, "/api/v1/filings", ["draft", "filed"]),
    ("declaration", "0916", "/api/v1/declarations",
     ["draft", "submitted", "accepted", "rejected", "withdrawn", "inspecting", "released"]),
])
def test_list_commands_refuse_an_unknown_status_as_the_api_does(cli, client, command, org, path, statuses):
    tokens = register_port(cli)
    error = cli.error(command, "list", "--org", org, "--status", "bogus")
    assert error["code"] == "validation_failed" and fields(error) == [["status"]]
    assert all(f"'{status}'" in error["details"][0]["msg"] for status in statuses)
    over_http = client.get(path, params={"status": "bogus"}, headers={"Authorization": f"Bearer {tokens[org]}"})
    assert over_http.status_code == 422
    [detail] = over_http.json()["error"]["details"]
    assert detail["loc"] == ["query", "status"] and detail["msg"] == error["details"][0]["msg"]


def test_acting_as_an_unknown_user_is_not_found(cli):
    register_port(cli)
    error = cli.error("filing", "list", "--org", ENTERPRISE, "--user", "ghost")
    assert error["code"] == "not_found" and "ghost" in error["message"]


def test_filing_create_with_a_file_that_is_not_utf8_fails_cleanly(cli, tmp_path):
    register_port(cli)
    bad = tmp_path / "entry.json"
    bad.write_bytes(b"\xff\xfe{\x00}\x00")  # UTF-16 with its byte order mark
    result = cli("filing", "create", "--org", ENTERPRISE, str(bad))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    error = json.loads(result.stderr)["error"]
    assert str(bad) in error["message"]
