"""`psoas-bot`: run the bot, check the content, and (with the database) migrate and tick."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot import logs
from bot.core.content import ContentError, Library, load_library
from bot.data.database import Database
from bot.data.installations import bot_token_finder, parse_keys, rotate_tokens
from bot.data.schema import current_revision, head_revision, is_sqlite_file, upgrade
from bot.data.workspaces import note_refused_token, retry_refused_token, token_fingerprint
from bot.engine.sender import Sender
from bot.engine.tick import TickReport, run_tick
from bot.settings import (
    Settings,
    SettingsError,
    load_content_settings,
    load_database_settings,
    load_settings,
    secrets_of,
)

log = logging.getLogger("bot")


def _settings() -> Settings:
    """Load the settings, then log as they ask, with their secrets filtered out."""
    settings = load_settings()
    logs.configure(secrets=secrets_of(settings), json_lines=settings.log_format == "json")
    return settings


def wait_for_database(database: Database, seconds: int) -> None:
    """At start-up the database may still be coming up (compose, Kubernetes): retry a while."""
    deadline = time.monotonic() + seconds
    attempt = 0
    while True:
        try:
            with database.engine.connect():
                return
        except OperationalError:
            attempt += 1
            if time.monotonic() >= deadline:
                raise
            log.warning("waiting for the database (attempt %d)", attempt)
            time.sleep(min(0.5 * 2**attempt, 5.0))


def _stop_on_sigterm() -> None:
    """Docker and Kubernetes stop with SIGTERM: treat it like Ctrl-C, so the pass in
    progress finishes and the server closes cleanly."""

    def stop(_signal: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def cmd_run(args: argparse.Namespace) -> int:
    from bot.slack.app import build_app
    from bot.slack.wsgi import WebApp, make_server

    _stop_on_sigterm()  # first: a container's PID 1 ignores signals it has no handler for
    settings = _settings()
    database = Database(settings.database_url)
    wait_for_database(database, settings.database_wait_seconds)
    prepare_schema(database)
    library = load_library(settings.content_dir)
    app = build_app(settings, library=library, database=database)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes)
    server = make_server(
        web_app,
        host=args.host,
        port=settings.port,
        threads=settings.server_threads,
        max_body_bytes=settings.max_body_bytes,
    )
    scheduler = start_scheduler(settings, database, library)
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
        handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
        log.info("Socket Mode connected; /healthz on port %s", settings.port)
    else:
        log.info("listening on http://%s:%s/slack/events", args.host, settings.port)
    try:
        server.run()  # waitress returns from here on Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping: finishing the nudge pass in progress, if any")
        scheduler.shutdown(wait=True)  # the pass records every outcome before we exit
        server.close()
    log.info("stopped")
    return 0


def nudge_pass(
    settings: Settings, database: Database, sender: Sender, library: Library, *, now: datetime
) -> TickReport:
    """One nudge pass. With a single bot token, a token Slack refused is tried again only
    when the configured token is another one, or once an hour, not on every pass."""
    token = settings.slack_bot_token
    fingerprint = None
    if settings.slack_client_id is None and token is not None:
        fingerprint = token_fingerprint(token.get_secret_value())
        if retry_refused_token(database, fingerprint=fingerprint, now=now):
            log.info("nudges resume for a workspace Slack refused before; trying the token again")
    lease = timedelta(seconds=settings.claim_lease_seconds)
    report = run_tick(database, sender, library, now=now, lease=lease)
    if fingerprint is not None:
        note_refused_token(database, fingerprint=fingerprint)
    return report


def make_sender(settings: Settings, database: Database) -> Sender:
    from bot.slack.app import installation_store

    store = installation_store(settings, database)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return Sender(
        api_url=settings.slack_api_url,
        token_for=bot_token_finder(store, database) if store else lambda _team_id: token,
        rate_per_second=settings.nudge_rate_per_second,
    )


def start_scheduler(
    settings: Settings, database: Database, library: Library
) -> BackgroundScheduler:
    """APScheduler is only the clock: the database decides who is due, so every replica can
    run the same job without a shared job store."""
    sender = make_sender(settings, database)

    def tick() -> None:
        try:
            report = nudge_pass(settings, database, sender, library, now=datetime.now(UTC))
        except Exception:
            log.exception("nudge tick failed; the next tick retries")
            return
        if report.due or report.resent or report.abandoned:
            log.info("nudge tick: %s", report)

    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        tick,
        IntervalTrigger(seconds=settings.tick_seconds),
        id="nudge-tick",
        coalesce=True,  # after a stall, one pass rather than a burst of them
        max_instances=1,
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    return scheduler


def parse_instant(text: str) -> datetime:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(
            f"--at {text!r} is not an ISO-8601 time; use e.g. 2026-11-25T15:00:00+00:00"
        ) from None
    if instant.tzinfo is None:
        raise SettingsError(
            f"--at {text!r} has no UTC offset; add one, e.g. 2026-11-25T15:00:00+00:00"
        )
    return instant.astimezone(UTC)


def cmd_tick(args: argparse.Namespace) -> int:
    settings = _settings()
    now = parse_instant(args.at) if args.at else datetime.now(UTC)
    database = Database(settings.database_url)
    wait_for_database(database, settings.database_wait_seconds)
    prepare_schema(database)
    library = load_library(settings.content_dir)
    report = nudge_pass(settings, database, make_sender(settings, database), library, now=now)
    print(
        f"tick at {now.isoformat()}: {report.due} due, {report.claimed} claimed, "
        f"{report.summaries} weekly summaries, "
        f"{report.resent} resent, {report.missed} missed, {report.abandoned} abandoned, "
        f"outcomes {report.outcomes or 'none'}"
    )
    return 0


def prepare_schema(database: Database) -> None:
    """Bring the default SQLite file up to date by itself; ask for `migrate` elsewhere."""
    head = head_revision()
    current = current_revision(database.engine)
    if current == head:
        return
    if is_sqlite_file(database.url):
        upgrade(database.url)
        where = make_url(database.url).render_as_string(hide_password=True)
        log.info("database schema upgraded from %s to %s (%s)", current, head, where)
        return
    raise SettingsError(
        f"DATABASE_URL: the schema is at {current or 'nothing'}, the code needs {head}; "
        "run `psoas-bot migrate` first"
    )


def cmd_migrate(_args: argparse.Namespace) -> int:
    url = load_database_settings().database_url
    database = Database(url)
    before = current_revision(database.engine)
    database.dispose()
    upgrade(url)
    print(f"database schema: {before or 'empty'} -> {head_revision()}")
    return 0


def cmd_rotate_key(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.token_encryption_key is None:
        raise SettingsError("TOKEN_ENCRYPTION_KEY is not set: give the new key first, then the old")
    database = Database(settings.database_url)
    changed = rotate_tokens(
        database.engine, parse_keys(settings.token_encryption_key.get_secret_value())
    )
    print(f"re-encrypted the tokens of {changed} stored installations with the first key")
    return 0


def cmd_content_check(args: argparse.Namespace) -> int:
    content_dir = args.content_dir or load_content_settings().content_dir
    library = load_library(content_dir)
    print(f"content OK: {len(library.exercises)} exercises ({', '.join(library.slugs)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psoas-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve Slack's requests (HTTP, or Socket Mode)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.set_defaults(func=cmd_run)

    tick = commands.add_parser("tick", help="run one nudge pass and exit (cron, serverless)")
    tick.add_argument("--at", help="the instant to run it at, ISO-8601 with an offset")
    tick.set_defaults(func=cmd_tick)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    rotate = commands.add_parser(
        "rotate-key", help="re-encrypt stored bot tokens with the first TOKEN_ENCRYPTION_KEY"
    )
    rotate.set_defaults(func=cmd_rotate_key)

    content = commands.add_parser("content", help="work with the exercise content")
    content_commands = content.add_subparsers(dest="content_command", required=True)
    check = content_commands.add_parser("check", help="validate content/ without starting")
    check.add_argument(
        "--content-dir", default=None, help="folder to check (default: CONTENT_DIR, else content/)"
    )
    check.set_defaults(func=cmd_content_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.configure(json_lines=False)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SettingsError as exc:
        print(f"psoas-bot: configuration error: {exc}", file=sys.stderr)
        return 2
    except ContentError as exc:
        print(f"psoas-bot: content error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        print(f"psoas-bot: cannot reach the database: {exc.orig}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # Ctrl-C or a stop signal before the server was up: asked for
        print("psoas-bot: stopped before start-up finished", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
