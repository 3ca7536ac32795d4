"""The operator CLI: ``onewindow init | org add | token add | serve | demo`` and the declaration flow.

Every command runs as one unit of work. Errors are printed on standard error
in the API's error shape and the command exits with status 1 (2 for usage).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from onewindow.clock import SystemClock, clock_from_settings
from onewindow.config import InvalidSettings, Settings, get_settings
from onewindow.context import Context
from onewindow.db import in_unit_of_work, make_engine, make_session_factory, unit_of_work
from onewindow.errors import AppError, ValidationFailed, field_error, pydantic_details

T = TypeVar("T")

app = typer.Typer(help="OneWindow: a trade Single Window (one declaration, one inspection, one release).",
                  no_args_is_help=True, add_completion=False)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
token_app = typer.Typer(help="Users and API tokens.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their web sign-in.", no_args_is_help=True)
filing_app = typer.Typer(help="Filings (the enterprise's one-time entry).", no_args_is_help=True)
declaration_app = typer.Typer(help="Declarations (the agencies' side).", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.add_typer(filing_app, name="filing")
app.add_typer(declaration_app, name="declaration")
events_app = typer.Typer(help="The event feed.", no_args_is_help=True)
app.add_typer(events_app, name="events")
report_app = typer.Typer(help="Reports of the port office.", no_args_is_help=True)
app.add_typer(report_app, name="report")

OrgOpt = Annotated[str, typer.Option("--org", help="Code of the organisation acting (USCC, office code...).")]
UserOpt = Annotated[str | None, typer.Option("--user", help="User acting (default: the organisation's first).")]


def fail(error: AppError) -> None:
    typer.echo(json.dumps(error.to_dict(), ensure_ascii=False, indent=2), err=True)
    raise typer.Exit(1)


def emit(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def _on_database(need_schema: bool = True) -> Iterator[tuple[Settings, Any]]:
    """The configured settings and an engine on their database (disposed after), the database at this code's
    schema when ``need_schema``; a domain or database error inside stops the command with one error."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        if need_schema:
            require_ready(engine)
        yield settings, engine
    except AppError as error:
        fail(error)
    except SQLAlchemyError as error:
        fail(AppError(f"database error: {error.__class__.__name__}: {str(error).splitlines()[0]}",
                      code="database_error"))
    finally:
        engine.dispose()


def _context(session, settings: Settings, org: str | None, user: str | None) -> Context:
    from onewindow.parties.service import actor_for

    ctx = Context(session=session, clock=SystemClock(), settings=settings)
    return Context(session=session, clock=ctx.clock, settings=settings, actor=actor_for(ctx, org, user)) if org else ctx


@contextmanager
def work(org: str | None = None, user: str | None = None, *, need_schema: bool = True,
         read_only: bool = False) -> Iterator[Context]:
    """A unit of work on the configured database, acting as ``org`` when given; ``read_only``: see
    :func:`onewindow.db.unit_of_work`."""
    with _on_database(need_schema) as (settings, engine), \
            unit_of_work(make_session_factory(engine), read_only=read_only) as session:
        yield _context(session, settings, org, user)


def run_work(org: str | None, user: str | None, fn: Callable[[Context], T]) -> T:
    """``fn(ctx)`` as ``org`` in one unit of work, run again from the start when the database aborts it to
    settle a conflict with a concurrent one (as a request's: :func:`onewindow.db.in_unit_of_work`)."""
    with _on_database() as (settings, engine):
        return in_unit_of_work(make_session_factory(engine), lambda session: fn(_context(session, settings, org, user)))


def require_ready(engine) -> None:
    """Stop (status 1, one error) unless the database is at this code's schema and the inspection catalogue
    loads: a server would otherwise answer healthy and fail its requests."""
    from onewindow.migrate import current_revision, head_revision
    from onewindow.refdata.catalogue import get_catalogue

    revision, head = current_revision(engine), head_revision()
    if revision is None:
        fail(AppError(f"the database at {_database()} is not initialised; run 'onewindow init'",
                      code="not_initialised"))
    if revision != head:
        fail(AppError(f"the database at {_database()} is at schema revision {revision}, this code needs {head}; "
                      "run 'onewindow init' to upgrade it", code="not_upgraded"))
    path = get_settings().inspection_catalogue
    try:
        get_catalogue(str(path) if path else None)
    except (OSError, ValueError) as exc:
        fail(AppError(f"ONEWINDOW_INSPECTION_CATALOGUE: {exc}", code="invalid_settings",
                      details=[{"loc": ["ONEWINDOW_INSPECTION_CATALOGUE"], "msg": str(exc)}]))


def read_json(path: str) -> Any:
    """A JSON document from a file (``-`` for standard input), or a 422-shaped error naming the place."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        fail(AppError(f"cannot read {path}: {exc.strerror}", code="unreadable_file"))
    except UnicodeDecodeError as exc:
        fail(AppError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})", code="unreadable_file"))
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(ValidationFailed([field_error([], f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}")],
                              message=f"{path} is not valid JSON"))


def validated(kind: Any, value: Any, loc: tuple[str, ...] = ()) -> Any:
    """``value`` validated as the API validates it (``kind``: the API's Pydantic model or enum), or a 422-shaped
    error with the API's messages, each bad field named under ``loc``."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        fail(ValidationFailed([{**d, "loc": [*loc, *d["loc"]]}
                               for d in pydantic_details(exc.errors(include_url=False), strip=())]))


@app.command()
def init() -> None:
    """Create or upgrade the database at ONEWINDOW_DATABASE_URL."""
    from onewindow.migrate import current_revision, upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        upgrade(engine)
        typer.echo(f"database {engine.url.render_as_string()} is at revision {current_revision(engine)}")
    except SQLAlchemyError as error:
        fail(AppError(f"cannot initialise {engine.url.render_as_string()}: {str(error).splitlines()[0]}",
                      code="database_error"))
    finally:
        engine.dispose()


@org_app.command("add")
def org_add(kind: Annotated[str, typer.Option(help="enterprise, customs, ciq, border, maritime, terminal, admin")],
            code: Annotated[str, typer.Option(help="USCC, office code, or short code")],
            name: Annotated[str, typer.Option()],
            office: Annotated[str | None, typer.Option(help="A terminal's port (UN/LOCODE).")] = None,
            credit: Annotated[str | None, typer.Option(help="An enterprise's credit level.")] = None) -> None:
    """Register an organisation (--office: the port a terminal serves, refused for any other kind)."""
    from onewindow.parties.service import add_organisation

    with work() as ctx:
        org = add_organisation(ctx, kind=kind, code=code, name=name, port=office, credit_level=credit)
    emit({"id": str(org.id), "kind": org.kind, "code": org.code, "name": org.name, "port": org.port,
          "credit_level": org.credit_level})


@token_app.command("add")
def token_add(org: OrgOpt, user: Annotated[str, typer.Option("--user")],
              role: Annotated[str | None, typer.Option(help="declarant, officer, operator, viewer, admin")] = None):
    """Create the user if new and an API token; the token is printed alone on the last line."""
    from onewindow.parties.service import ensure_user, get_organisation_by_code, issue_token

    with work() as ctx:
        u = ensure_user(ctx, get_organisation_by_code(ctx, org), user, role)
        token = issue_token(ctx, u)
    typer.echo(f"user {u.name} ({u.role}) of {org}")
    typer.echo(token)


@token_app.command("list")
def token_list(org: OrgOpt, user: Annotated[str | None, typer.Option("--user")] = None):
    """The organisation's API tokens (of one user with --user): prefix, user, created, revoked."""
    from onewindow.parties.service import list_tokens

    with work() as ctx:
        rows = [(t.prefix, t.user.name, t.created_at.isoformat(timespec="seconds"),
                 t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "-")
                for t in list_tokens(ctx, org, user)]
    typer.echo("prefix\tuser\tcreated\trevoked")
    for row in rows:
        typer.echo("\t".join(row))


@token_app.command("revoke")
def token_revoke(org: OrgOpt,
                 token: Annotated[str, typer.Argument(help="The token, or its prefix from 'token list'.")]):
    """Revoke an API token: it answers 401 from then on."""
    from onewindow.parties.service import revoke_token

    with work() as ctx:
        revoked = revoke_token(ctx, org, token)
        line = f"revoked {revoked.prefix}… of {revoked.user.name} ({org})"
    typer.echo(line)


@user_app.command("add")
def user_add(org: OrgOpt, name: Annotated[str, typer.Option("--name", help="The user's sign-in name.")],
             password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                   help="Web sign-in password (prompted when omitted).")],
             role: Annotated[str | None, typer.Option(help="declarant, officer, operator, viewer, admin")] = None):
    """Create a user (or update an existing one's role) and set the password for the web pages."""
    from onewindow.parties.service import ensure_user, get_organisation_by_code, set_password

    with work() as ctx:
        u = ensure_user(ctx, get_organisation_by_code(ctx, org), name, role)
        set_password(u, password)
    typer.echo(f"user {u.name} ({u.role}) of {org} may sign in at /login")


MAX_WORKERS = 64
"""The most worker processes ``serve`` starts: each is a whole server with its own database connections, so
more than a few per processor only competes for them (and a mistyped number would fill the machine's memory)."""


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(min=1, max=MAX_WORKERS, help="Worker processes.")] = 1) -> None:
    """Serve the API and pages. With several workers this process accepts the connections and hands each to
    the worker process with the fewest open ones, and the deadline scheduler runs in a process of its own."""
    import uvicorn

    from onewindow import processes

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        require_ready(engine)
    finally:
        engine.dispose()
    config = uvicorn.Config("onewindow.app:served_app", factory=True, host=host, port=port,
                            http="onewindow.serving:HttpProtocol", log_level=settings.log_level.lower(),
                            access_log=False)
    processes.serve(config, workers, scheduler=settings.embedded_scheduler and settings.scheduler_thread)


@app.command()
def worker(once: Annotated[bool, typer.Option("--once", help="One round, then exit.")] = False) -> None:
    """Run the deadline scheduler (match windows, check-in grace) and the webhook relay alone; any number may
    run at once."""
    import time

    from onewindow.events.relay import Relay, run_relay_once
    from onewindow.scheduler import HOUSEKEEPING_SECONDS, Every, housekeeping, tick

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=4)
    factory, clock = make_session_factory(engine), clock_from_settings(settings)  # the server's time
    relay = None
    try:
        require_ready(engine)
        if not once:
            relay = Relay(factory, clock, settings)
            relay.start()
        chores = Every(HOUSEKEEPING_SECONDS)
        while True:
            try:
                done = tick(factory, clock, settings)
                if chores.due():
                    done |= housekeeping(factory, clock, settings)
                typer.echo(json.dumps((done | run_relay_once(factory, clock, settings)) if once else done))
            except SQLAlchemyError as error:  # a failed round is reported and tried again
                typer.echo(f"round failed: {error.__class__.__name__}: {str(error).splitlines()[0]}", err=True)
                if once:
                    raise typer.Exit(1) from None
            if once:
                return
            time.sleep(settings.scheduler_interval_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        if relay:
            relay.stop()
        engine.dispose()


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000,
         serve_after: Annotated[bool, typer.Option("--serve/--no-serve")] = True) -> None:
    """Demo organisations, logins and consignments in every stage, then serve."""
    from onewindow.demo import load_demo
    from onewindow.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=1)
    upgrade(engine)
    engine.dispose()
    with work() as ctx:
        logins = load_demo(ctx)
    typer.echo("Demo logins (Authorization: Bearer <token>):")
    for login in logins:
        typer.echo(f"  {login}")
    typer.echo(f"Web sign-in at http://{host}:{port}/login (organisation code, user, password):")
    for login in logins:
        typer.echo(f"  {login.web()}")
    if serve_after:
        typer.echo(f"Serving on http://{host}:{port} (pages at /, API docs at /docs)")
        serve(host=host, port=port)


def _flow(org: str, user: str | None, fn: Callable[[Context], Any]) -> None:
    """Run ``fn`` as ``org`` in one unit of work (:func:`run_work`); print its answer once committed."""
    emit(run_work(org, user, fn))


def _dump(model) -> Any:
    return model.model_dump(mode="json")


@filing_app.command("create")
def filing_create(org: OrgOpt, file: Annotated[str, typer.Argument(help="Entry JSON file, or - for stdin")],
                  user: UserOpt = None) -> None:
    """Stage a new filing from a one-time entry document."""
    from onewindow.filings import service
    from onewindow.filings.presenters import filing_out

    entry = read_json(file)
    _flow(org, user, lambda ctx: _dump(filing_out(service.create_filing(ctx, entry))))


@filing_app.command("list")
def filing_list(org: OrgOpt, status: str | None = None, user: UserOpt = None) -> None:
    """The organisation's filings, newest first; --status one of the API's filing statuses."""
    from onewindow.filings import service
    from onewindow.filings.presenters import filing_out
    from onewindow.models import FilingStatus

    status = validated(FilingStatus | None, status, ("status",))
    _flow(org, user, lambda ctx: [_dump(filing_out(f)) for f in service.list_filings(ctx, status=status)[0]])


@filing_app.command("show")
def filing_show(org: OrgOpt, filing_id: str, user: UserOpt = None) -> None:
    """One filing with its declarations and receipts."""
    from onewindow.filings import service
    from onewindow.filings.presenters import filing_out

    _flow(org, user, lambda ctx: _dump(filing_out(service.get_filing(ctx, filing_id))))


@filing_app.command("edit")
def filing_edit(org: OrgOpt, filing_id: str, file: Annotated[str, typer.Argument(help="Patch JSON, or -")],
                user: UserOpt = None) -> None:
    """Edit a staged filing (top-level fields of the entry)."""
    from onewindow.filings import service
    from onewindow.filings.presenters import filing_out

    patch = read_json(file)
    _flow(org, user, lambda ctx: _dump(filing_out(service.update_filing(ctx, filing_id, patch))))


@filing_app.command("submit")
def filing_submit(org: OrgOpt, filing_id: str,
                  agency: Annotated[list[str] | None, typer.Option(help="customs, ciq (repeat; default all)")] = None,
                  user: UserOpt = None) -> None:
    """File staged declarations of a filing."""
    from onewindow.filings import service
    from onewindow.filings.presenters import filing_out

    _flow(org, user, lambda ctx: _dump(filing_out(service.submit_filing(ctx, filing_id, agency or None))))


@declaration_app.command("list")
def declaration_list(org: OrgOpt, status: str | None = None, user: UserOpt = None) -> None:
    """The office's queue (or the enterprise's declarations); --status one of the API's declaration
    statuses."""
    from onewindow.filings import declarations
    from onewindow.filings.presenters import declaration_summary
    from onewindow.models import DeclarationStatus

    status = validated(DeclarationStatus | None, status, ("status",))
    _flow(org, user, lambda ctx: [_dump(declaration_summary(d))
                                  for d in declarations.list_declarations(ctx, status=status, limit=500)])


@declaration_app.command("show")
def declaration_show(org: OrgOpt, declaration_id: str, user: UserOpt = None) -> None:
    """One declaration with its data and notices."""
    from onewindow.filings import declarations
    from onewindow.filings.presenters import declaration_out

    _flow(org, user, lambda ctx: _dump(declaration_out(ctx, declarations.get_declaration(ctx, declaration_id))))


@declaration_app.command("accept")
def declaration_accept(org: OrgOpt, declaration_id: str, user: UserOpt = None) -> None:
    """Accept a submitted declaration (prints the receipt number)."""
    from onewindow.filings import declarations
    from onewindow.filings.presenters import declaration_summary

    _flow(org, user, lambda ctx: _dump(declaration_summary(declarations.accept(ctx, declaration_id))))


@declaration_app.command("reject")
def declaration_reject(org: OrgOpt, declaration_id: str, reason: Annotated[str, typer.Option()],
                       user: UserOpt = None) -> None:
    """Reject a submitted declaration with a reason."""
    from onewindow.filings import declarations
    from onewindow.filings.presenters import declaration_summary

    _flow(org, user, lambda ctx: _dump(declaration_summary(declarations.reject(ctx, declaration_id, reason))))


@declaration_app.command("amend")
def declaration_amend(org: OrgOpt, declaration_id: str,
                      file: Annotated[str, typer.Argument(help="JSON object of changed fields, or -")],
                      reason: Annotated[str, typer.Option()], user: UserOpt = None) -> None:
    """Amend a filed declaration; the filing's other agencies are notified. The changes and the reason are
    checked as the API checks an amendment (a non-empty object of changes; a blank reason is refused with
    every other bad field)."""
    from onewindow.filings import declarations
    from onewindow.filings.presenters import declaration_out
    from onewindow.filings.schemas import AmendmentRequest

    body = validated(AmendmentRequest, {"changes": read_json(file), "reason": reason})
    _flow(org, user, lambda ctx: _dump(declaration_out(ctx, declarations.amend(ctx, declaration_id, body.changes,
                                                                                   body.reason))))


@events_app.command("tail")
def events_tail(org: OrgOpt, after: Annotated[str | None, typer.Option(help="Cursor to start after.")] = None,
                follow: Annotated[bool, typer.Option("--follow/--no-follow", help="Keep watching.")] = False,
                interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks when following.")] = 1.0,
                user: UserOpt = None) -> None:
    """Print the organisation's events (one JSON document a line), oldest first; the cursor on stderr."""
    import time

    from onewindow.events.feed import event_out, read_feed

    cursor = after
    while True:
        with work(org, user) as ctx:
            events, cursor = read_feed(ctx, cursor, 500)
            lines = [json.dumps(event_out(ctx, e), ensure_ascii=False) for e in events]
        for line in lines:
            typer.echo(line)
        typer.echo(f"next {cursor}", err=True)
        if not follow:
            return
        if not lines:
            time.sleep(interval)


@app.command()
def simulate(
        url: Annotated[str | None, typer.Option(help="Drive the platform running at this URL.")] = None,
        compare: Annotated[bool, typer.Option("--compare", help="Start two platforms (matching on and off), play "
                                              "the same traffic on both, print the figures side by side.")] = False,
        tokens: Annotated[str | None, typer.Option(help="With --url: JSON file of the parties' tokens "
                                                   "(default: register them in ONEWINDOW_DATABASE_URL).")] = None,
        consignments: int = 50, containers_per_filing: int = 2, seed: int = 1,
        speed: Annotated[float, typer.Option(help="Simulated seconds per real second (--compare; with --url "
                                             "the platform's own clock speed is used).")] = 1800.0,
        customs_rate: float = 0.3, ciq_rate: float = 0.5, no_show_rate: float = 0.05, reject_rate: float = 0.05,
        concurrency: Annotated[int, typer.Option(help="Requests in flight at most.")] = 16,
        output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
        progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True) -> None:
    """Traffic simulator: vessels, enterprises, agencies and the terminal driving a platform over its API, on
    simulated time; measures inspections, container openings and clearance times (docs/simulator.md)."""
    from onewindow.simulator.main import run_cli

    run_cli(url=url, compare=compare, tokens=tokens, output=output, progress=progress,
            options=dict(consignments=consignments, containers_per_filing=containers_per_filing, seed=seed,
                         speed=speed, customs_rate=customs_rate, ciq_rate=ciq_rate, no_show_rate=no_show_rate,
                         reject_rate=reject_rate, concurrency=concurrency))
Filter = Annotated[str | None, typer.Option()]


@report_app.command("clearance")
def report_clearance(
        date_from: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD), included.")] = None,
        date_to: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD), included.")] = None,
        fmt: Annotated[str, typer.Option("--format", help="csv, json or html")] = "html",
        output: Annotated[str | None, typer.Option("--output", "-o", help="File to write (default stdout).")] = None,
        min_group: Annotated[int, typer.Option(help="Suppress groups of fewer consignments.", min=1)] = 1,
        project: Annotated[bool, typer.Option("--project/--no-project",
                                              help="Bring the study up to date first.")] = True,
        published: Annotated[bool, typer.Option(
            "--published/--live", help="Take the figures as published (each with its as_of) instead of "
                                       "computing them now (exact and current).")] = False,
        direction: Filter = None, port: Filter = None, customs_office: Filter = None, ciq_office: Filter = None,
        transport_mode: Filter = None, trade_mode: Filter = None, inspection: Filter = None,
        credit_level: Filter = None, inspection_place: Filter = None, destination: Filter = None) -> None:
    """The clearance-time report (放行时间): overall, by port, office, inspection, credit level, cross
    statistics, weekly trend and distribution; html is one self-contained file with charts."""
    from onewindow.timing import publication, service
    from onewindow.timing.filters import parse_query
    from onewindow.timing.report import FORMATS, render, report_data

    if fmt not in FORMATS:
        fail(ValidationFailed([field_error(["format"], "must be csv, json or html")]))
    raw = {"from": date_from, "to": date_to, "direction": direction, "port": port, "customs_office": customs_office,
           "ciq_office": ciq_office, "transport_mode": transport_mode, "trade_mode": trade_mode,
           "inspection": inspection, "credit_level": credit_level, "inspection_place": inspection_place,
           "destination": destination}
    with work() as ctx:
        query = parse_query({k: v for k, v in raw.items() if v is not None})
        if project:
            service.project(ctx)
    with work(read_only=True) as ctx:  # beside the server's writers (SQLite): a report may take long
        answer = publication.served if published else service.live
        text = render(report_data(ctx, query, min_group=min_group, answer=answer), fmt)
    if output:
        Path(output).write_text(text, encoding="utf-8")
        typer.echo(f"clearance report written to {output}", err=True)
    else:
        typer.echo(text)


def main() -> None:
    """The ``onewindow`` command. What stops a command before it could do its work (bad settings, a database
    it cannot reach or open, a file it cannot use) is printed in the error shape, one message naming the
    setting or the file, and the command exits with status 1; no traceback."""
    try:
        app()
    except InvalidSettings as exc:
        _stopped(AppError(f"invalid settings: {exc}", code="invalid_settings",
                          details=[{"loc": [name], "msg": message} for name, message in exc.problems]))
    except SQLAlchemyError as exc:
        _stopped(AppError(f"database error ({_database()}): {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0]}", code="database_error"))
    except OSError as exc:
        _stopped(AppError(f"cannot use {exc.filename or 'a file'}: {exc.strerror or exc}", code="os_error"))


def _database() -> str:
    """The configured database's URL without its password."""
    return make_url(get_settings().database_url).render_as_string(hide_password=True)


def _stopped(error: AppError) -> None:
    typer.echo(json.dumps(error.to_dict(), ensure_ascii=False, indent=2), err=True)
    raise SystemExit(1)


if __name__ == "__main__":
    main()
