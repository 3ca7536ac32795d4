"""Who the simulator acts as: the terminal, one customs and one CIQ office, and a few enterprises.

Either the simulator registers them itself in the platform's database (the
operator CLI's way: ``org add`` and ``token add``), or the operator gives their
API tokens in a JSON file::

    {"terminal": "...", "customs": "...", "ciq": "...", "enterprises": ["...", "..."]}

Either way each token's organisation is then read from ``GET /api/v1/me``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from onewindow.samples import make_uscc
from onewindow.simulator.client import Api, PlatformError
from onewindow.simulator.plan import ENTERPRISES, OptionError

ROLES = ("terminal", "customs", "ciq")
OFFICES = [("customs", "0916", "大窑湾海关 Dayaowan Customs", None),
           ("ciq", "210600", "大窑湾检验检疫 Dayaowan Inspection & Quarantine", None),
           ("terminal", "DCT", "大连集装箱码头 Dalian Container Terminal", "CNDAG")]


@dataclass(frozen=True)
class Parties:
    """Tokens by party key (``terminal``, ``customs``, ``ciq``, ``enterprise:N``) and what they stand for."""

    tokens: dict[str, str]
    enterprises: list[str]
    customs_office: str
    ciq_office: str
    port: str


def enterprise_key(index: int) -> str:
    return f"enterprise:{index}"


def register(database_url: str) -> dict[str, str]:
    """Register the simulated parties in the database at ``database_url`` (those already there are reused)
    and issue a token for each; returns the tokens by party key."""
    from onewindow.clock import SystemClock
    from onewindow.config import Settings
    from onewindow.context import Context
    from onewindow.db import make_engine, make_session_factory, unit_of_work
    from onewindow.errors import Conflict
    from onewindow.parties.service import add_organisation, ensure_user, get_organisation_by_code, issue_token

    rng = random.Random("simulated enterprises")
    orgs = [*OFFICES, *[("enterprise", make_uscc(rng), f"模拟进口企业 Simulated Importer {i + 1}", None)
                        for i in range(ENTERPRISES)]]
    engine = make_engine(database_url, pool_size=1)
    tokens: dict[str, str] = {}
    try:
        for i, (kind, code, name, port) in enumerate(orgs):
            with unit_of_work(make_session_factory(engine)) as session:
                ctx = Context(session=session, clock=SystemClock(), settings=Settings(database_url=database_url))
                try:
                    org = add_organisation(ctx, kind=kind, code=code, name=name, port=port)
                except Conflict:
                    session.rollback()
                    org = get_organisation_by_code(ctx, code)
                key = kind if kind != "enterprise" else enterprise_key(i - len(OFFICES))
                tokens[key] = issue_token(ctx, ensure_user(ctx, org, "simulator"))
    finally:
        engine.dispose()
    return tokens


def read_tokens(path: str) -> dict[str, str]:
    """The operator's token file, or :class:`OptionError` saying what is wrong with it."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionError(f"--tokens: cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OptionError(f"--tokens: {path} is not a JSON document ({exc})") from None
    if not isinstance(doc, dict):
        raise OptionError(f"--tokens: {path} must hold a JSON object")
    missing = [r for r in ROLES if not isinstance(doc.get(r), str) or not doc[r]]
    enterprises = doc.get("enterprises")
    if not isinstance(enterprises, list) or not enterprises or not all(isinstance(t, str) and t for t in enterprises):
        missing.append("enterprises (a list of tokens)")
    if missing:
        raise OptionError(f"--tokens: {path} lacks {', '.join(missing)}")
    return {**{r: doc[r] for r in ROLES}, **{enterprise_key(i): t for i, t in enumerate(enterprises)}}


async def resolve(api: Api) -> Parties:
    """Ask ``/me`` who each token is; checks each is the kind of party it stands for."""
    found: dict[str, dict] = {}
    for key in api.tokens:
        me = await api.call(key, "GET", "/me")
        org = me["organisation"]
        kind = key.split(":")[0]
        if org["kind"] != kind:
            raise PlatformError(f"the {key} token belongs to a {org['kind']} ({org['code']}), not a {kind}")
        found[key] = org
    if not found["terminal"].get("port"):
        raise PlatformError(f"the terminal {found['terminal']['code']} serves no port")
    enterprises = [found[k]["code"] for k in sorted((k for k in found if k.startswith("enterprise:")),
                                                    key=lambda k: int(k.split(":")[1]))]
    return Parties(tokens=api.tokens, enterprises=enterprises, customs_office=found["customs"]["code"],
                   ciq_office=found["ciq"]["code"], port=found["terminal"]["port"])
