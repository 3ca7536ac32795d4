"""``onewindow simulate``: checks the options, runs, shows progress and prints the figures."""

from __future__ import annotations

import asyncio
import sys
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from onewindow.simulator import report
from onewindow.simulator.client import PlatformError
from onewindow.simulator.parties import read_tokens, register
from onewindow.simulator.plan import OptionError, Options
from onewindow.simulator.run import compare as compare_runs
from onewindow.simulator.run import simulate


def _fail(message: str, status: int = 1) -> None:
    typer.echo(f"onewindow simulate: {message}", err=True)
    raise typer.Exit(status)


def check(url: str | None, compare: bool, tokens: str | None, output: str, options: dict) -> Options:
    """The options, or :class:`OptionError` naming every one that is wrong."""
    problems = []
    if bool(url) == compare:
        problems.append("give either --url URL (drive a running platform) or --compare (start two platforms)")
    if url and not url.startswith(("http://", "https://")):
        problems.append(f"--url must be an http:// or https:// address, not {url!r}")
    if tokens and compare:
        problems.append("--tokens goes with --url; --compare registers its own parties")
    if output not in ("text", "json"):
        problems.append(f"--format must be text or json, not {output!r}")
    try:
        parsed = Options(**options)
    except OptionError as error:
        problems.append(str(error))
    if problems:
        raise OptionError("; ".join(problems))
    return parsed


@contextmanager
def _progress(show: bool, total: int, runs: list[str]):
    console = Console(stderr=True)
    if not show:
        yield lambda _run, _i: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        tasks = {r: bar.add_task(f"{report.HEADINGS.get(r, r)}: consignments through", total=total) for r in runs}
        yield lambda run, _i: bar.advance(tasks[run])


def run_cli(*, url: str | None, compare: bool, tokens: str | None, output: str, progress: bool,
            options: dict) -> None:
    """Check the options (exit 2 naming each bad one), run, print the figures; exit 1 when a consignment
    failed or the platform could not be driven."""
    try:
        opts = check(url, compare, tokens, output, options)
        token_map = read_tokens(tokens) if tokens else None
    except OptionError as error:
        _fail(str(error), 2)
    try:
        if compare:
            with _progress(progress, opts.consignments, ["joint", "serial"]) as tick:
                results = compare_runs(opts, tick)
        else:
            token_map = token_map or _registered()
            with _progress(progress, opts.consignments, ["run"]) as tick:
                results = {"run": asyncio.run(simulate(url, token_map, opts, lambda i: tick("run", i)))}
    except PlatformError as error:
        _fail(str(error))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    typer.echo(report.as_json(results, opts) if output == "json" else report.text(results, opts))
    if any(r.outcome.failures for r in results.values()):
        sys.exit(1)


def _registered() -> dict[str, str]:
    """The parties registered in the platform's database (ONEWINDOW_DATABASE_URL), with fresh tokens."""
    from sqlalchemy.exc import SQLAlchemyError

    from onewindow.config import get_settings

    url = get_settings().database_url
    try:
        return register(url)
    except SQLAlchemyError as error:
        raise PlatformError(f"cannot register the simulated parties in {url} ({error.__class__.__name__}): "
                            "give the platform's database in ONEWINDOW_DATABASE_URL (initialised with "
                            "'onewindow init'), or the parties' tokens with --tokens") from None
