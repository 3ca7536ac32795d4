"""Amending a filed declaration on the enterprise's pages (both databases): the form holds what the agency
received, only changed fields go out with the reason, errors land on the fields, the other agency is told."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from onewindow.models import Declaration, DeclarationVersion, Notice
from onewindow.samples import sample_entry
from tests.web.test_enterprise_pages import ENT, OTHER, stage, token_of


@pytest.fixture
def declarant(client, pages):
    pages.sign_in(client, ENT)
    return client


def filed(client) -> tuple[str, dict[str, str]]:
    """A consignment staged and filed on the pages: its id and its declarations' ids by agency."""
    filing_id = stage(client, sample_entry(seed=21))
    client.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(client)})
    page = client.get(f"/enterprise/filings/{filing_id}").text
    links = dict((agency, ident) for agency, ident in re.findall(
        r'<tr data-agency="(\w+)">.*?/enterprise/declarations/([0-9a-f-]{36})/amend', page, re.S))
    return filing_id, links


def form_values(page: str) -> dict[str, str]:
    """The fields the amendment form shows, as it would post them."""
    values = dict(re.findall(r'<input name="([^"]+)" id="f-[^"]+" value="([^"]*)"', page))
    values |= {name: value for name, value in re.findall(
        r'<select name="([^"]+)"[^>]*>.*?<option value="([^"]+)" selected', page, re.S)}
    values |= {name: html.unescape(text).replace("\n", "\r\n")  # as a browser sends a text area's lines
               for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S)}
    values |= dict(re.findall(r'<input type="hidden" name="(version)" value="([^"]*)"', page))
    return values | {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}


def test_a_filed_declaration_is_amended_with_its_reason_and_the_other_agency_is_told(declarant, run):
    filing_id, links = filed(declarant)
    assert set(links) == {"customs", "ciq"}
    page = declarant.get(f"/enterprise/declarations/{links['customs']}/amend")
    assert page.status_code == 200 and 'name="reason"' in page.text
    assert 'name="transaction_mode"' in page.text and 'name="ciq_office"' not in page.text  # customs' fields only
    values = form_values(page.text)
    response = declarant.post(f"/enterprise/declarations/{links['customs']}/amend",
                              data=values | {"remarks": "冷藏 -18°C，更正", "reason": "备注填写错误"},
                              follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/enterprise/filings/{filing_id}?amended=customs"
    assert 'id="flash"' in declarant.get(response.headers["location"]).text

    def stored(ctx):
        customs = ctx.session.get(Declaration, uuid.UUID(links["customs"]))
        [version] = ctx.session.scalars(select(DeclarationVersion).where(
            DeclarationVersion.declaration_id == customs.id, DeclarationVersion.version == 2)).all()
        notices = ctx.session.scalars(select(Notice)).all()
        return customs.data["remarks"], version.changes, version.reason, [(n.changed_fields, n.reason) for n in notices]

    remarks, changes, reason, notices = run(stored)
    assert remarks == "冷藏 -18°C，更正" and changes == {"remarks": "冷藏 -18°C，更正"}  # only what differs went out
    assert reason == "备注填写错误"
    assert notices == [(["remarks"], "备注填写错误")]  # CIQ carries the remarks too


def test_a_refused_amendment_marks_its_fields_and_keeps_what_was_typed(declarant, run):
    _filing_id, links = filed(declarant)
    url = f"/enterprise/declarations/{links['customs']}/amend"
    values = form_values(declarant.get(url).text)
    no_reason = declarant.post(url, data=values | {"remarks": "x", "reason": " "})
    assert no_reason.status_code == 422
    assert re.search(r'data-field="reason">请填写修改原因<', no_reason.text)
    bad = declarant.post(url, data=values | {"containers.0.number": "CSQU3054384", "reason": "箱号"})
    assert bad.status_code == 422 and 'value="CSQU3054384"' in bad.text and "箱号</textarea>" in bad.text
    assert re.search(r'data-field="containers.0.number">集装箱号校验码（ISO 6346）错误<', bad.text)
    unchanged = declarant.post(url, data=values | {"reason": "nothing"})
    assert unchanged.status_code == 409 and 'id="entry-errors"' in unchanged.text
    versions = run(lambda ctx: ctx.session.scalars(select(DeclarationVersion.version)).all())
    assert max(versions) == 1  # nothing was amended


def test_only_the_enterprise_of_a_filed_declaration_may_amend_it(app, declarant, pages):
    filing_id = stage(declarant, sample_entry(seed=22))
    page = declarant.get(f"/enterprise/filings/{filing_id}").text
    assert "/amend" not in page  # staged: edit the entry instead
    _filing_id, links = filed(declarant)
    for code in (OTHER, "0916"):
        with TestClient(app) as other:
            pages.sign_in(other, code)
            assert other.get(f"/enterprise/declarations/{links['customs']}/amend").status_code == 404
    pages.add_user(ENT, "reader", "viewer")
    with TestClient(app) as reader:
        pages.sign_in(reader, ENT, "reader")
        assert reader.get(f"/enterprise/declarations/{links['customs']}/amend").status_code == 404
        assert "/amend" not in reader.get(f"/enterprise/filings/{_filing_id}").text


def test_an_officer_amends_the_declaration_of_the_office_from_the_workbench(app, declarant, pages, run):
    _filing_id, links = filed(declarant)
    with TestClient(app) as officer:
        pages.sign_in(officer, "210600")  # the CIQ office of the sample entry
        page = officer.get(f"/ciq/declarations/{links['ciq']}")
        assert f'href="/ciq/declarations/{links["ciq"]}/amend"' in page.text
        form = officer.get(f"/ciq/declarations/{links['ciq']}/amend")
        assert form.status_code == 200 and 'name="ciq_office"' in form.text
        assert 'name="transaction_mode"' not in form.text  # a customs field
        assert 'hx-get="/ciq/amend/rows/items?' in form.text
        assert officer.get("/ciq/amend/rows/items?index=7").status_code == 200
        done = officer.post(f"/ciq/declarations/{links['ciq']}/amend",
                            data=form_values(form.text) | {"remarks": "查验前补充说明", "reason": "依企业来函更正"},
                            follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/ciq/declarations/{links['ciq']}?done=amended"
        assert officer.get(f"/ciq/declarations/{links['customs']}/amend").status_code == 404  # not its office's
        assert officer.get(f"/customs/declarations/{links['ciq']}/amend").status_code == 404
    notices = run(lambda ctx: [(n.source_agency, n.reason) for n in ctx.session.scalars(select(Notice))])
    assert notices == [("ciq", "依企业来函更正")]  # customs carries the remarks too: told


def test_a_form_opened_before_another_amendment_is_refused_and_undoes_nothing(declarant, port, run):
    _filing_id, links = filed(declarant)
    url = f"/enterprise/declarations/{links['customs']}/amend"
    opened = form_values(declarant.get(url).text)
    assert opened["version"] == "1" and opened.get("remarks", "") == ""
    port.post("0916", f"/declarations/{links['customs']}/amendments",
              {"changes": {"remarks": "CUSTOMS NOTE: keep", "conveyance": {"name": "COSCO AFRICA", "voyage": "999W"}},
               "reason": "office correction"}, 201)
    declarant.cookies.set("ow_lang", "en")
    stale = declarant.post(url, data=opened | {"items.0.name": "frozen hake fillets", "reason": "description"})
    assert stale.status_code == 409
    assert "The declaration was amended after you opened this form (it is now version 2)" in stale.text
    assert 'id="reopen-form">Open the form again</a>' in stale.text and f'href="{url}"' in stale.text
    assert 'value="frozen hake fillets"' in stale.text and "description</textarea>" in stale.text  # kept
    assert '<input type="hidden" name="version" value="1">' in stale.text  # still the version it was opened at

    def customs(ctx):
        declaration = ctx.session.get(Declaration, uuid.UUID(links["customs"]))
        return declaration.version, declaration.data.get("remarks"), declaration.data["conveyance"]["voyage"]

    assert run(customs) == (2, "CUSTOMS NOTE: keep", "999W")  # the office's amendment stands
    again = form_values(declarant.get(url).text)
    assert again["version"] == "2" and again["remarks"] == "CUSTOMS NOTE: keep"
    done = declarant.post(url, data=again | {"items.0.name": "frozen hake fillets", "reason": "description"},
                          follow_redirects=False)
    assert done.status_code == 303
    assert run(customs) == (3, "CUSTOMS NOTE: keep", "999W")
    changes = run(lambda ctx: ctx.session.scalars(select(DeclarationVersion.changes).where(
        DeclarationVersion.declaration_id == uuid.UUID(links["customs"]), DeclarationVersion.version == 3)).one())
    assert list(changes) == ["items"]  # only what was typed differently went out


def test_an_amendment_form_without_its_version_is_refused_naming_it(declarant, run):
    _filing_id, links = filed(declarant)
    url = f"/enterprise/declarations/{links['customs']}/amend"
    values = form_values(declarant.get(url).text) | {"remarks": "x", "reason": "y"}
    declarant.cookies.set("ow_lang", "en")
    for version in (None, "abc", ""):
        posted = {k: v for k, v in values.items() if k != "version"} | ({} if version is None else
                                                                       {"version": version})
        answer = declarant.post(url, data=posted)
        assert answer.status_code == 422, version
        assert re.search(r'data-field="version">the form does not say which version it was opened at', answer.text)
        assert '>x</textarea>' in answer.text
    versions = run(lambda ctx: ctx.session.scalars(select(DeclarationVersion.version)).all())
    assert max(versions) == 1  # nothing was amended


def test_an_officers_form_opened_before_the_enterprise_amended_is_refused(app, declarant, pages, port, run):
    _filing_id, links = filed(declarant)
    with TestClient(app) as officer:
        pages.sign_in(officer, "210600")
        officer.cookies.set("ow_lang", "en")
        url = f"/ciq/declarations/{links['ciq']}/amend"
        opened = form_values(officer.get(url).text)
        port.post("91210200MA0QK1P3AF", f"/declarations/{links['ciq']}/amendments",
                  {"changes": {"remarks": "enterprise note"}, "reason": "added a note"}, 201)
        stale = officer.post(url, data=opened | {"packages": "7", "reason": "recount"})
        assert stale.status_code == 409 and 'id="stale-form"' in stale.text and 'value="7"' in stale.text
    remarks = run(lambda ctx: ctx.session.get(Declaration, uuid.UUID(links["ciq"])).data.get("remarks"))
    assert remarks == "enterprise note"


def test_a_remark_of_several_lines_is_kept_and_not_sent_again_when_another_field_is_amended(declarant, run):
    """The remarks are a text area: its lines come back as a browser sends them (CR LF) and are the same
    remarks, so an amendment of the voyage changes the voyage alone."""
    filing_id = stage(declarant, sample_entry(seed=23) | {"remarks": "冷藏 -18°C\n第二行 line 2"})
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(declarant)})
    customs = run(lambda ctx: str(ctx.session.scalar(select(Declaration.id).where(
        Declaration.filing_id == uuid.UUID(filing_id), Declaration.agency == "customs"))))
    page = declarant.get(f"/enterprise/declarations/{customs}/amend").text
    values = form_values(page)
    assert values["remarks"] == "冷藏 -18°C\r\n第二行 line 2"
    response = declarant.post(f"/enterprise/declarations/{customs}/amend", follow_redirects=False,
                              data=values | {"conveyance.voyage": "555E", "reason": "voyage only"})
    assert response.status_code == 303, response.text

    def stored(ctx):
        declaration = ctx.session.get(Declaration, uuid.UUID(customs))
        [version] = ctx.session.scalars(select(DeclarationVersion).where(
            DeclarationVersion.declaration_id == declaration.id, DeclarationVersion.version == 2)).all()
        return declaration.data["remarks"], sorted(version.changes)

    assert run(stored) == ("冷藏 -18°C\n第二行 line 2", ["conveyance"])
