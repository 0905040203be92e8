"""Instructions per append: what PostgreSQL executes for one price change
through the project's triggers, against the prototype's, counted by
valgrind's callgrind, which the machine's other load does not disturb (the
rates of append_ceiling_bench.py vary by ±10 % between rounds here).

One command (see bench/README.md; needs Debian's valgrind):

    .venv/bin/python bench/append_instructions_bench.py [--appends 1500] [--before 0061]

It starts an embedded PostgreSQL of its own under /tmp, makes the databases
of append_ceiling_bench.py, seeded alike through their own triggers
(project: every file of sql/; before: the files before --before; prototype:
the prototype's price-change path), and stops the server. Then for each
database it runs PostgreSQL in single-user mode under callgrind, counting
from the first statement to the last: a prepared price change to a random
pet, one transaction each, as the API's sessions send it (no NOTIFY per
event), executed --warm-up times in one run and --warm-up + --appends times
in another. The difference of the two counts divided by --appends is the
cost of one append with its commit in a warm session, without the
session's start and first-time work (catalog caches, plans). The kernel's
work (fsync, sockets) is not counted; append_ceiling_bench.py measures the
whole.

It prints per database the instructions per append, its ratio to the
prototype's, and where they go: the inclusive counts of the parts of an
append (which overlap: the AFTER triggers include the fold's UPDATE and its
constraints and triggers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import random
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from graphql_petstore.database.embedded import EmbeddedPostgres
from graphql_petstore.database.location import with_database
from harness.appends import PET_NUMBERS, bundled_executable, prepare_project, prepare_prototype
from harness.database import connected, server_settings
from harness.report import command_line, say

PREPARE = (
    "prepare append(uuid, numeric) as"
    " insert into pet_price_change_events (pet_id, new_price) values ($1, $2);"
)

# PostgreSQL's functions whose inclusive count says where an append goes.
PARTS = {
    "ExecBRInsertTriggers": "BEFORE INSERT triggers (events_check)",
    "AfterTriggerEndQuery": "AFTER triggers (events_apply: the fold's UPDATE)",
    "ExecBRUpdateTriggers": "BEFORE UPDATE triggers of pets (in the fold)",
    "ExecConstraints": "constraints (CHECK, NOT NULL)",
    "TriggerEnabled": "trigger WHEN clauses",
    "ExecInsertIndexTuples": "index entries",
    "ExecInitExprWithParams": "PL/pgSQL expressions set up (once per transaction)",
    "CommitTransactionCommand": "commit",
}
# "  1,234,567 (12.34%)  ???:ExecConstraints [/path/to/postgres]"
ANNOTATED = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+\S*?:([A-Za-z_][\w.]*)\s")


def script(ids: list[str], count: int, seed: int) -> str:
    chance = random.Random(seed)
    lines = [PREPARE]
    for _ in range(count):
        price = chance.randint(100, 99999) / 100
        lines.append(f"execute append('{chance.choice(ids)}', {price});")
    return "\n".join(lines) + "\n"


def as_owner_of(path: Path) -> list[str]:
    """The prefix that runs a command as the owner of `path`: PostgreSQL
    refuses to run as root, and the embedded server's files then belong to
    a user of its own."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", pwd.getpwuid(path.stat().st_uid).pw_name, "--"]


def count(pgdata: Path, database: str, statements: str, folder: Path, name: str) -> Path:
    """Runs `statements` in a single-user backend under callgrind; returns its
    profile (collected inside exec_simple_query only)."""
    out = folder / f"{name}.callgrind"
    command = [
        *as_owner_of(pgdata),
        "valgrind",
        "--tool=callgrind",
        "--toggle-collect=exec_simple_query",
        f"--callgrind-out-file={out}",
        bundled_executable("postgres"),
        "--single",
        "-D",
        str(pgdata),
        "-c",
        "petstore.notify=batched",
        database,
    ]
    done = subprocess.run(
        command, input=statements.encode(), capture_output=True, check=False, cwd=folder
    )
    if done.returncode != 0 or not out.exists():
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr.decode()[-2000:]}")
    return out


def inclusive(profile: Path) -> dict[str, int]:
    """Total instructions, and each of PARTS' functions with its callees."""
    text = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(profile)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            counts["total"] = int(line.split()[0].replace(",", ""))
            continue
        found = ANNOTATED.match(line)
        if found and found.group(2) in PARTS:
            counts.setdefault(found.group(2), int(found.group(1).replace(",", "")))
    return counts


async def prepare(folder: Path, before: str | None) -> tuple[Path, dict[str, list[str]]]:
    """An embedded server's data directory, stopped, with the databases
    seeded, and the ids of each one's pets a price change may go to."""
    embedded = EmbeddedPostgres(folder / "server")
    admin_url = embedded.start()
    try:
        say(f"postgres: embedded, {await server_settings(admin_url)}")
        variants = ["project", "before", "prototype"] if before else ["project", "prototype"]
        ids: dict[str, list[str]] = {}
        for variant in variants:
            async with connected(admin_url) as conn:
                await conn.execute(f"create database {variant}")
            url = with_database(admin_url, variant)
            say(f"seeding {variant} (through its own triggers):")
            if variant == "prototype":
                await prepare_prototype(url)
            else:
                await prepare_project(url, before if variant == "before" else None)
            async with connected(url) as conn:
                await conn.execute(PET_NUMBERS)
                rows = await conn.fetch("select id from bench.pet_ids order by n")
            ids[variant] = [str(row["id"]) for row in rows]
    finally:
        embedded.stop()
    return embedded.pgdata, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=1500, help="counted, per database")
    parser.add_argument("--warm-up", type=int, default=500, help="appends before counting")
    parser.add_argument(
        "--before",
        default="0061",
        help="also count the project migrated with the sql/ files before this prefix "
        "(default 0061: before the checks moved into the triggers); '' to skip",
    )
    args = parser.parse_args()
    for program in ("valgrind", "callgrind_annotate"):
        if shutil.which(program) is None:
            raise SystemExit(f"{program} is missing: apt-get install valgrind")
    say(f"command: {command_line()}")
    folder = Path(tempfile.mkdtemp(prefix="petstore-append-instructions-", dir="/tmp"))
    try:
        folder.chmod(0o777)  # the server's own user writes the profiles here
        pgdata, ids = asyncio.run(prepare(folder, args.before or None))
        per_append: dict[str, dict[str, float]] = {}
        for variant, pets in ids.items():
            short = count(pgdata, variant, script(pets, args.warm_up, 1), folder, f"{variant}-a")
            long = script(pets, args.warm_up + args.appends, 2)
            full = count(pgdata, variant, long, folder, f"{variant}-b")
            a, b = inclusive(short), inclusive(full)
            per_append[variant] = {k: (b[k] - a.get(k, 0)) / args.appends for k in b}
            say(f"{variant}: {per_append[variant]['total']:,.0f} instructions per append")
        report(per_append)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)


def report(per_append: dict[str, dict[str, float]]) -> None:
    variants = list(per_append)
    say()
    say(f"{'instructions per append':<52}" + "".join(f"{v:>12}" for v in variants))
    for key, label in [("total", "all of it"), *PARTS.items()]:
        say(f"{label:<52}" + "".join(f"{per_append[v].get(key, 0):>12,.0f}" for v in variants))
    say()
    prototype = per_append["prototype"]["total"]
    for variant in variants[:-1]:
        say(f"{variant} / prototype: {per_append[variant]['total'] / prototype:.2f}")


if __name__ == "__main__":
    main()
