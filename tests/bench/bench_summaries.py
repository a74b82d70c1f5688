"""Benchmark: one pass's weekly summaries, claimed and rendered, for 2,000 people due at once
among 10,000, on SQLite and PostgreSQL; set-based against person by person, side by side.

    python -m tests.bench.bench_summaries [--due 2000] [--people 10000] [--rounds 3]
        [--backends sqlite,postgresql] [--postgres-url URL] [--check] [--quick]

The population (seeded, the same on both backends): everyone opted in, in 40 time zones, with
varied hours, working days (Monday to Friday, three days, Sunday to Thursday, ...), intervals,
quiet hours, Do Not Disturb windows, past snoozes and meetings, and a varied history: none for
one in five, else up to half a year of stretches on their working days at their own pace (a
few joined team breaks), some periods away. `--due` of them have their weekly summary due at
`NOW` (a Friday, 15:40 UTC): each one's own summary time (an hour before their work ends on
their last working day) fell in the last 50 minutes, with nothing deferring it, so every one is
sent. The others' summaries are due next week.

Each round runs both ways one after the other (alternating which goes first), the state put
back before each:

* set-based (`bot.engine.summaries`): `claim_summaries`, then `summary_messages` for all;
* person by person (the code before issue 13, kept here): the claim loads ORM people and
  flushes one UPDATE each inside the locking transaction, then each summary reads its
  person's stats (`read_movement`: three queries) and renders.

Figures: wall time and this process's CPU (`time.process_time`: Python, the driver and, on
SQLite, the database itself; not PostgreSQL's server), statements sent to the driver (counted
with a SQLAlchemy event listener; an executemany counts once), medians over `--rounds`.
Targets (set-based, each backend): at most STATEMENT_TARGET statements whatever the number
due, and CPU per summary at most CPU_TARGET_MS, well under the 2 ms a whole DM may cost.
`--quick`: 300 due among 1,500, 2 rounds.

PostgreSQL: the server and database of `--postgres-url` (default `psoas_bench`; created if
missing, its tables dropped and migrated anew: never point it at a database in use).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, text, update

from bot.core.content import Library, load_library
from bot.core.preferences import Preferences, days_to_mask, mask_to_days
from bot.core.schedule import dnd_windows, next_summary, summary_time
from bot.data.database import ENGINE_WORK_SECONDS, Database
from bot.data.models import (
    AwayPeriod,
    Completion,
    LogKind,
    NudgeLog,
    Person,
    SummarySchedule,
    Workspace,
)
from bot.data.movement import read_movement
from bot.data.people import Who, dnd_windows_of, to_preferences
from bot.engine.claims import (
    CLAIM_BATCH,
    SUMMARY_GRACE,
    Claimed,
    _due,
    _insert_claims,
    _pass_session,
    claim_row,
)
from bot.engine.summaries import claim_summaries, summary_messages
from bot.render.kit import Message
from bot.render.nudge import build_weekly_summary
from tests.bench.bench_claim import Statements
from tests.bench.harness import (
    ZONES,
    LoadAverage,
    Option,
    Target,
    finish,
    fresh_database,
    parse_options,
    progress,
    scratch_directory,
    shown_url,
    sqlite_url,
    table,
    title,
)

STATEMENT_TARGET = 12  # claim and render, whatever the number due
CPU_TARGET_MS = 1.0  # per summary, claim and render: half of what a whole DM may cost

NOW = datetime(2026, 12, 4, 15, 40, 5, tzinfo=UTC)  # a Friday
WORKSPACES = 10
CHUNK = 10_000
SEED = 13
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/psoas_bench"
WEEKS = (
    (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4), (0, 2, 4), (1, 2, 3), (0, 1, 2, 3),
    (6, 0, 1, 2, 3), (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5, 6),
)  # fmt: skip
INTERVALS = (30, 45, 60, 60, 60, 90, 120)
PEOPLE = cast(Table, Person.__table__)
SUMMARIES = cast(Table, SummarySchedule.__table__)


def backends(text_: str) -> list[str]:
    names = [name.strip() for name in text_.split(",")]
    if not set(names) <= {"sqlite", "postgresql"}:
        raise argparse.ArgumentTypeError(f"{text_!r}: sqlite, postgresql or both")
    return names


OPTIONS = (
    Option("--due", 2000, "people whose weekly summary is due at once", quick=300),
    Option("--people", 10_000, "people stored in all (at least --due)", quick=1500),
    Option("--rounds", 3, "rounds, each running both ways", quick=2),
    Option("--backends", "sqlite,postgresql", "where to run", kind=backends),
    Option("--postgres-url", DEFAULT_POSTGRES_URL, "a database of the benchmark's own"),
)


# ---------------------------------------------------------------- population


@dataclass
class Population:
    people: list[dict[str, Any]] = field(default_factory=list)
    completions: list[dict[str, Any]] = field(default_factory=list)
    away: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[tuple[str, str], datetime] = field(default_factory=dict)  # of those due


def _quarter(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def _due_person(rng: random.Random) -> tuple[dict[str, Any], datetime]:
    """Preferences under which this person's summary fell due in the last 50 minutes and
    nothing defers it: their work ends an hour after a recent quarter, on their last day."""
    while True:
        zone = rng.choice(ZONES)
        local = NOW.astimezone(Preferences(tz=zone).zone)
        slot_local = _quarter(local) - timedelta(minutes=15 * rng.randint(0, 3))
        if not clock(0, 15) <= slot_local.time() <= clock(22, 45):
            continue  # the working day would cross midnight
        end = (slot_local + timedelta(hours=1)).time()
        length = timedelta(hours=rng.choice((4, 6, 8, 9, 10)))
        midnight = datetime.combine(slot_local.date(), clock(0))
        start = max(midnight, datetime.combine(slot_local.date(), end) - length).time()
        last = slot_local.weekday()
        days = [d for d in rng.choice(WEEKS) if d < last] + [last]
        row = _person_row(rng, zone, start, end, days)
        prefs = _preferences(row)
        slot = next_summary(prefs, after=NOW - timedelta(minutes=50))
        dnd = dnd_windows(start=row["dnd_start"], end=row["dnd_end"], now=NOW)
        if slot is not None and slot <= NOW and summary_time(prefs, slot, dnd=dnd) == slot:
            row["next_summary_at"] = slot
            return row, slot


def _preferences(row: dict[str, Any]) -> Preferences:
    names = ("quiet_start", "quiet_end", "snoozed_until", "meetings", "busy_until")
    return Preferences(
        opted_in=True,
        tz=row["tz"],
        work_start=row["work_start"],
        work_end=row["work_end"],
        work_days=mask_to_days(row["work_days"]),
        interval_minutes=row["interval_minutes"],
        **{name: row[name] for name in names},
    )


def _person_row(
    rng: random.Random, zone: str, start: clock, end: clock, days: Sequence[int]
) -> dict[str, Any]:
    quiet = rng.random() < 0.3
    dnd = rng.random() < 0.3
    dnd_start = NOW + timedelta(hours=rng.randint(3, 8)) if dnd else None
    return {
        "opted_in": True,
        "tz": zone,
        "work_start": start,
        "work_end": end,
        "work_days": days_to_mask(frozenset(days)),
        "interval_minutes": rng.choice(INTERVALS),
        "quiet_start": clock(3) if quiet else None,  # before anyone's summary time here
        "quiet_end": clock(3, 30) if quiet else None,
        "snoozed_until": NOW - timedelta(hours=rng.randint(1, 48)) if rng.random() < 0.2 else None,
        "stopped_reason": None,
        "weekly_summary": True,
        "next_nudge_at": NOW + timedelta(minutes=rng.randint(1, 120)),
        "dnd_start": dnd_start,
        "dnd_end": dnd_start + timedelta(hours=rng.choice((1, 8, 12))) if dnd_start else None,
        "meetings": rng.random() < 0.9,
        "busy_until": NOW - timedelta(minutes=rng.randint(5, 300)) if rng.random() < 0.2 else None,
        "busy_kind": None,
        "away_until": None,
    }


def _history(
    rng: random.Random, who: tuple[str, str], row: dict[str, Any], days_back: int
) -> Iterator[dict[str, Any]]:
    """Stretches on the person's working days, at their own pace, for up to `days_back`."""
    if rng.random() < 0.2:
        return
    zone = Preferences(tz=row["tz"]).zone
    work_days = {d for d in range(7) if row["work_days"] & (1 << d)}
    pace = rng.choice((0.3, 0.7, 1.0, 1.5, 2.5))
    slugs = rng.sample(SLUGS, k=min(len(SLUGS), rng.randint(1, 4)))
    n = 0
    for back in range(rng.randint(1, days_back), -1, -1):
        done = NOW - timedelta(days=back, hours=rng.random() * 6)
        if done.astimezone(zone).weekday() not in work_days:
            continue
        for _ in range(int(pace + rng.random())):
            n += 1
            yield {
                "team_id": who[0],
                "user_id": who[1],
                "done_at": done,
                "local_day": done.astimezone(zone).date(),
                "exercise": rng.choice(slugs),
                "source": "team" if rng.random() < 0.05 else rng.choice(("nudge", "exercise")),
                "dedupe_key": f"b{n}",
            }


SLUGS: list[str] = []


def plan(due: int, people: int, library: Library) -> Population:
    SLUGS[:] = library.slugs
    rng = random.Random(SEED)
    population = Population()
    for index in range(people):
        who = (f"TSUMM{index % WORKSPACES:03d}", f"U{index:08d}")
        if index < due:
            row, slot = _due_person(rng)
            population.slots[who] = slot
            days_back = 180
        else:
            row = _person_row(rng, rng.choice(ZONES), clock(9), clock(17), (0, 1, 2, 3, 4))
            row["next_summary_at"] = NOW + timedelta(days=7, minutes=rng.randint(-600, 600))
            days_back = 30
        row |= {"team_id": who[0], "user_id": who[1]}
        population.people.append(row)
        population.completions += _history(rng, who, row, days_back)
        for _ in range(rng.choice((0,) * 9 + (1, 2))):
            started = NOW - timedelta(days=rng.randint(1, 60), hours=rng.random() * 24)
            ended = started + timedelta(hours=rng.choice((8, 30, 100)))
            population.away.append(
                {"team_id": who[0], "user_id": who[1], "started_at": started, "ended_at": ended}
            )
    return population


# ---------------------------------------------------------------- databases


def load(db: Database, table: Table, rows: list[dict[str, Any]]) -> None:
    """COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    columns = list(rows[0])
    if db.dialect == "postgresql":
        raw = db.engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")  # loading is not what is timed
                with cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row([row[name] for name in columns])
            connection.commit()
        finally:
            raw.close()
        return
    with db.engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(table.insert(), rows[start : start + CHUNK])


def populate(db: Database, population: Population) -> None:
    with db.engine.begin() as connection:
        connection.execute(
            cast(Table, Workspace.__table__).insert(),
            [{"team_id": f"TSUMM{i:03d}", "active": True} for i in range(WORKSPACES)],
        )
    summaries = ("team_id", "user_id", "next_summary_at")
    people = [{k: v for k, v in row.items() if k not in summaries[2:]} for row in population.people]
    load(db, PEOPLE, people)
    load(db, SUMMARIES, [{k: row[k] for k in summaries} for row in population.people])
    load(db, cast(Table, Completion.__table__), population.completions)
    load(db, cast(Table, AwayPeriod.__table__), population.away)
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))


def restore(db: Database, population: Population) -> None:
    """Undo a pass's summaries: no log rows, and everyone due again at their slot."""
    statement = (
        update(SUMMARIES)
        .where(SUMMARIES.c.team_id == bindparam("t"), SUMMARIES.c.user_id == bindparam("u"))
        .values(next_summary_at=bindparam("at"))
    )
    params = [{"t": t, "u": u, "at": slot} for (t, u), slot in population.slots.items()]
    with db.engine.begin() as connection:
        connection.execute(delete(NudgeLog))
        connection.execute(statement, params)


# ---------------------------------------------------------------- the two ways


def claim_per_person(db: Database, *, now: datetime, worker: str) -> list[Claimed]:
    """The claim as it was before issue 13 (ORM people, one UPDATE each at the flush)."""
    claims: list[dict[str, object]] = []
    with _pass_session(db, heavy=True) as session:
        query = select(SummarySchedule, Person).join(
            Person,
            (Person.team_id == SummarySchedule.team_id)
            & (Person.user_id == SummarySchedule.user_id),
        )
        due_at = SummarySchedule.next_summary_at
        due = session.execute(
            _due(db, query, due_at, now=now, batch=CLAIM_BATCH, lock_of=SummarySchedule)
        ).all()
        for schedule, person in due:
            slot = schedule.next_summary_at
            assert slot is not None
            prefs = to_preferences(person)
            schedule.next_summary_at = next_summary(prefs, after=now)
            if now - slot >= SUMMARY_GRACE:
                continue
            when = summary_time(prefs, slot, dnd=dnd_windows_of(person, now))
            if when is None:
                continue
            if when > slot:
                schedule.next_summary_at = when
                continue
            claims.append(
                claim_row(
                    team_id=person.team_id,
                    user_id=person.user_id,
                    kind=LogKind.SUMMARY,
                    slot=slot,
                    send_at=slot,
                    now=now,
                    worker=worker,
                )
            )
        inserted = _insert_claims(session, claims)
    return [Claimed(r.id, r.team_id, r.user_id, r.slot_at, LogKind.SUMMARY) for r in inserted]


def render_per_claim(
    db: Database, claims: Sequence[Claimed], library: Library, *, now: datetime
) -> dict[int, Message | None]:
    """Rendering as it was before issue 13: each claim reads its person's stats alone."""
    messages: dict[int, Message | None] = {}
    for claim in claims:
        with db.unit(ENGINE_WORK_SECONDS, fail_fast=False):
            stats = read_movement(db, Who(claim.team_id, claim.user_id), now=now)
        messages[claim.log_id] = build_weekly_summary(stats, library) if stats else None
    return messages


Claim = Callable[..., list[Claimed]]
Render = Callable[..., dict[int, Message | None]]
WAYS: dict[str, tuple[Claim, Render]] = {
    "set-based": (claim_summaries, summary_messages),
    "person by person": (claim_per_person, render_per_claim),
}


@dataclass
class Run:
    claim_s: float
    render_s: float
    cpu_s: float
    claim_statements: int
    render_statements: int

    @property
    def wall_s(self) -> float:
        return self.claim_s + self.render_s

    @property
    def statements(self) -> int:
        return self.claim_statements + self.render_statements


def run_once(db: Database, library: Library, way: str, due: int) -> Run:
    claim, render = WAYS[way]
    cpu = time.process_time()
    with Statements(db.engine) as claiming:
        started = time.perf_counter()
        claims = claim(db, now=NOW, worker="bench")
        claimed = time.perf_counter()
    with Statements(db.engine) as rendering:
        messages = render(db, claims, library, now=NOW)
        rendered = time.perf_counter()
    cpu = time.process_time() - cpu
    if len(claims) != due or not all(messages.get(c.log_id) for c in claims):
        raise RuntimeError(f"{way}: {len(claims)} claimed, want {due}, each with a message")
    return Run(claimed - started, rendered - claimed, cpu, claiming.count, rendering.count)


def same_messages(db: Database, library: Library, population: Population) -> None:
    """Both ways give every person the same words (checked once, before timing)."""
    texts = []
    for way in WAYS:
        restore(db, population)
        claim, render = WAYS[way]
        claims = claim(db, now=NOW, worker="bench")
        messages = render(db, claims, library, now=NOW)
        texts.append(
            {(c.team_id, c.user_id): messages[c.log_id].text for c in claims if messages[c.log_id]}  # type: ignore[union-attr]
        )
    if texts[0] != texts[1]:
        raise RuntimeError("the two ways render different summaries")
    progress(f"    both ways render the same {len(texts[0]):,} summaries")


# ---------------------------------------------------------------- run


def bench_backend(
    backend: str, url: str, population: Population, library: Library, args: argparse.Namespace
) -> dict[str, list[Run]]:
    progress(f"[{backend}] fresh schema at {shown_url(url)}; loading ...")
    fresh_database(url)
    db = Database(url)
    runs: dict[str, list[Run]] = {way: [] for way in WAYS}
    try:
        started = time.perf_counter()
        populate(db, population)
        progress(f"[{backend}]   loaded in {time.perf_counter() - started:.1f} s")
        same_messages(db, library, population)  # also warms both ways up
        for round_ in range(args.rounds):
            order = list(WAYS) if round_ % 2 == 0 else list(reversed(WAYS))
            for way in order:
                restore(db, population)
                run = run_once(db, library, way, args.due)
                runs[way].append(run)
                progress(
                    f"[{backend}]   round {round_ + 1} {way}: {run.wall_s * 1000:.0f} ms, "
                    f"{run.statements} statements"
                )
    finally:
        db.dispose()
    return runs


def median(runs: Sequence[Run], figure: Callable[[Run], float]) -> float:
    return statistics.median(figure(run) for run in runs)


def report(
    results: dict[str, dict[str, list[Run]]], args: argparse.Namespace, population: Population,
    load_: LoadAverage,
) -> list[str]:  # fmt: skip
    lines = [
        title(f"weekly summaries at {NOW.isoformat()}: {args.due:,} due among {args.people:,}"),
        f"history: {len(population.completions):,} completions, {len(population.away):,} "
        f"periods away; {args.rounds} rounds, both ways in each, medians",
        load_.line(),
        "",
    ]
    rows = []
    for backend, runs in results.items():
        for way, mine in runs.items():
            rows.append(
                [
                    f"{backend} {way}",
                    f"{median(mine, lambda r: r.claim_s) * 1000:,.0f}",
                    f"{median(mine, lambda r: r.render_s) * 1000:,.0f}",
                    f"{median(mine, lambda r: r.wall_s) * 1000:,.0f}",
                    f"{median(mine, lambda r: r.cpu_s) * 1000:,.0f}",
                    f"{median(mine, lambda r: r.cpu_s) * 1000 / args.due:.3f}",
                    f"{median(mine, lambda r: r.claim_statements):,.0f}",
                    f"{median(mine, lambda r: r.render_statements):,.0f}",
                ]
            )
    headers = ["way", "claim ms", "render ms", "wall ms", "CPU ms", "CPU ms/summary"]
    lines += table([*headers, "claim stmts", "render stmts"], rows)
    lines += [
        "",
        "  CPU: this process (Python, the driver, and SQLite itself); PostgreSQL's server is not",
        "  in it. Statements: sent to the driver, an executemany once, SQLite's BEGIN included.",
    ]
    for backend, runs in results.items():
        before = median(runs["person by person"], lambda r: r.wall_s)
        after = median(runs["set-based"], lambda r: r.wall_s)
        lines.append(f"  {backend}: set-based takes {after / before:.0%} of the time of before")
    return lines


def targets(results: dict[str, dict[str, list[Run]]], due: int) -> list[Target]:
    found = []
    for backend, runs in results.items():
        mine = runs["set-based"]
        found.append(
            Target(
                f"{backend} statements to claim and render {due:,} summaries",
                max(run.statements for run in mine),
                STATEMENT_TARGET,
                digits=0,
            )
        )
        found.append(
            Target(
                f"{backend} CPU per summary, claim and render",
                median(mine, lambda r: r.cpu_s) * 1000 / due,
                CPU_TARGET_MS,
                " ms",
                digits=3,
            )
        )
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_options(__doc__, OPTIONS, argv)
    if args.people < args.due:
        raise SystemExit("--people must be at least --due")
    load_ = LoadAverage()
    library = load_library()
    progress(f"planning {args.people:,} people ...")
    population = plan(args.due, args.people, library)
    results: dict[str, dict[str, list[Run]]] = {}
    with scratch_directory("psoas-bench-summaries-") as workdir:
        for backend in args.backends:
            url = sqlite_url(workdir) if backend == "sqlite" else args.postgres_url
            results[backend] = bench_backend(backend, url, population, library, args)
    print("\n".join(report(results, args, population, load_)))
    return finish(targets(results, args.due), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
