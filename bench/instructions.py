"""Machine instructions per lifecycle or per filing, counted by valgrind: a CPU figure that does not move
with the machine's speed or load, and that sees the work done in C (SQLite, pydantic, orjson, the
interpreter itself) as well as the Python calls.

The application object is driven in process, one request at a time, with the
process's checkpoints stopped (their thread's share would follow the clock,
and valgrind slows the clock down fifty-fold). The same program runs twice
under ``valgrind --tool=callgrind``, with ``--base`` and with ``--base +
--count`` lifecycles (or filings) after the warm-up; the difference of the
two totals divided by ``--count`` leaves out the start (imports, migrations,
warm-up). User-space instructions only: the system calls' own work (the
commits' writes) is not in it. The runs hash strings alike (``PYTHONHASHSEED=0``);
the random ids still shape the b-trees differently from run to run, which
moves the figure by about 1 %.

    python bench/instructions.py [--what lifecycle|filing] [--count 20] [--base 5]

Each run takes minutes (valgrind runs the interpreter some fifty times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import LogPages, drop_database, fresh_database, machine  # noqa: E402

WARM_UP = 10
"""Lifecycles or filings run before those counted, in every run."""


def child(what: str, n: int) -> None:
    """Run ``WARM_UP + n`` lifecycles or filings through the application object, one request at a time."""
    import uvloop

    from onewindow.app import create_app, settle_collector
    from onewindow.config import Settings
    from onewindow.samples import sample_entry

    url = fresh_database("sqlite", "onewindow_bench_instructions")
    LogPages(url)  # checkpoints stopped
    entries = [sample_entry(seed=i, containers=2, items=5) for i in range(WARM_UP + n)]
    if what == "lifecycle":
        import lifecycle

        tokens = lifecycle.prepare(url)
    else:
        import filings

        token, _ = filings.prepare(url)
    app = create_app(Settings(database_url=url, embedded_scheduler=False))
    settle_collector()

    async def main() -> None:
        if what == "lifecycle":
            parties = {k: lifecycle.InProcessParty(app, t) for k, t in tokens.items()}
            for entry in entries:
                await lifecycle.lifecycle(parties, entry)
            return
        headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                   (b"host", b"bench")]
        for entry in entries:
            await filings.file_in_process(app, headers, json.dumps(entry, ensure_ascii=False).encode())

    try:
        uvloop.run(main())
    finally:
        app.state.engine.dispose()
        drop_database(url)


def instructions(what: str, n: int) -> int:
    """Instructions valgrind counts for one run of :func:`child` (the whole process, from its start)."""
    run = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                          __file__, "--child", str(n), "--what", what], capture_output=True, text=True, check=False,
                         env={**os.environ, "PYTHONHASHSEED": "0"})  # the same sets' orders in every run
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"the run of {n} under valgrind failed:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--what", choices=["lifecycle", "filing"], default="lifecycle")
    parser.add_argument("--count", type=int, default=20, help="lifecycles or filings counted (the difference)")
    parser.add_argument("--base", type=int, default=5, help="lifecycles or filings in the shorter run")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.what, args.child)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    print(f"machine: {machine()}")
    short, long = instructions(args.what, args.base), instructions(args.what, args.base + args.count)
    print(f"| {args.what}s counted | instructions, run of {args.base} | run of {args.base + args.count} "
          f"| instructions per {args.what} |")
    print("|---|---|---|---|")
    print(f"| {args.count} | {short:,} | {long:,} | **{(long - short) / args.count / 1e6:.2f} M** |")


if __name__ == "__main__":
    main()
