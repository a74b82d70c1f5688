"""psoas-bot: a Slack app that keeps desk workers moving. Serve Slack, run a nudge pass,
migrate the database, check the exercise content, print the app manifest, or try it all in
the sandbox.

A `tick` from cron is a whole process per pass, so its start-up counts: what only some
commands need is imported by them (the scheduler, Bolt, the package's metadata), and the
garbage collector stays off until start-up is done.
"""

from __future__ import annotations

import argparse
import errno
import gc
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

# Start-up makes some 100,000 objects that live as long as the process (modules, classes,
# functions), and the garbage collector walks them again and again while they are made:
# about 0.1 s of a `tick` before its first DM. Off while the imports below run, and from
# `main` on until the command's start-up is done (`freeze_start_up`).
_COLLECTING = gc.isenabled()
gc.disable()

from slack_sdk.errors import SlackApiError  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402

import bot  # noqa: E402
from bot import logs  # noqa: E402
from bot.core.content import ContentError, Library, load_library  # noqa: E402
from bot.data.database import Database, DatabaseUnavailableError  # noqa: E402
from bot.data.schema import (  # noqa: E402
    SchemaState,
    check_schema,
    current_revision,
    downgrade,
    is_sqlite_file,
    scripts,
    upgrade,
)
from bot.data.workspaces import (  # noqa: E402
    note_refused_token,
    retry_refused_token,
    token_fingerprint,
)
from bot.engine.sender import Sender  # noqa: E402
from bot.engine.tick import TickReport, run_tick  # noqa: E402
from bot.settings import (  # noqa: E402
    DatabaseSettings,
    Settings,
    SettingsError,
    load_content_settings,
    load_database_settings,
    load_key_settings,
    load_settings,
    secrets_of,
)

if _COLLECTING:  # as it was, for whoever imports this module
    gc.enable()

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("bot")

# The Slack app manifest: shipped in the package by the build (build_data.py), else the
# checkout's deploy/manifest.yaml (an editable install). One source: deploy/manifest.yaml.
PACKAGED_MANIFEST = Path(__file__).resolve().parent / "manifest.yaml"
CHECKOUT_MANIFEST = Path(__file__).resolve().parents[1] / "deploy" / "manifest.yaml"


def _settings(*, serving: bool = True) -> Settings:
    """Load the settings, then log as they ask, with their secrets filtered out."""
    settings = load_settings(serving=serving)
    logs.configure(secrets=secrets_of(settings), json_lines=settings.log_format == "json")
    return settings


def open_database(settings: DatabaseSettings) -> Database:
    """The database the settings name, once its driver and (for SQLite) its folder are there:
    each problem an operator can fix is said before anything is created."""
    require_driver(settings.database_url)
    check_sqlite_path(settings.database_url)
    return Database(settings.database_url)


def require_driver(url: str) -> None:
    """A URL whose driver is not installed says which package to install."""
    parsed = make_url(url)
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as exc:
        driver = parsed.get_driver_name()
        missing = getattr(exc, "name", None) or driver
        fix = (
            "pip install 'psoas-bot[postgres]'"
            if parsed.get_backend_name() == "postgresql" and driver == "psycopg"
            else f"install the Python package that provides {missing}"
        )
        raise SettingsError(
            f"DATABASE_URL names the {parsed.get_backend_name()}+{driver} driver, and the "
            f"{missing} module is not installed: {fix}"
        ) from None


def check_sqlite_path(url: str) -> None:
    """A SQLite file must be in a folder that exists and that this user can write."""
    if not is_sqlite_file(url):
        return
    path = Path(str(make_url(url).database)).expanduser()
    folder = path.absolute().parent
    where = f"DATABASE_URL: the SQLite file {path}"
    if not folder.is_dir():
        raise SettingsError(f"{where} cannot be created: the folder {folder} does not exist")
    if path.is_dir():
        raise SettingsError(f"{where} is a folder; name a file in it")
    writable = os.access(path, os.R_OK | os.W_OK) if path.exists() else True
    if not writable or not os.access(folder, os.W_OK | os.X_OK):
        raise SettingsError(
            f"{where} is not writable by this user (uid {os.getuid()}): give it a folder "
            "it may write (SQLite also writes -wal and -shm files beside it)"
        )


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
    from bot.slack.wsgi import Readiness, WebApp, make_server

    _stop_on_sigterm()  # first: a container's PID 1 ignores signals it has no handler for
    settings = _settings()
    library = load_library(settings.content_dir)  # before anything is created or migrated
    database = open_database(settings)
    wait_for_database(database, settings.database_wait_seconds)
    prepare_schema(database)
    app = build_app(settings, library=library, database=database)
    # Ready: the database answers, and a nudge pass finished or progressed lately.
    stale_after = 3 * settings.tick_seconds + settings.claim_lease_seconds
    readiness = Readiness(database, scheduler_stale_after=stale_after)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes, readiness=readiness)
    try:
        server = make_server(
            web_app,
            host=args.host,
            port=settings.port,
            threads=settings.server_threads,
            max_body_bytes=settings.max_body_bytes,
        )
    except OSError as exc:
        raise SettingsError(port_problem(exc, args.host, settings.port)) from None
    freeze_start_up()
    scheduler = start_scheduler(settings, database, library)
    socket_mode = None
    if settings.slack_app_token:
        socket_mode = SocketModeLink(app, settings.slack_app_token.get_secret_value())
        try:
            socket_mode.start()
        except BaseException:
            scheduler.shutdown(wait=True)
            server.close()
            raise
        log.info("Socket Mode; /healthz on port %s", settings.port)
    else:
        log.info("listening on http://%s:%s/slack/events", args.host, settings.port)
    try:
        server.run()  # waitress returns from here on Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping: finishing the nudge pass in progress, if any")
        if socket_mode is not None:
            socket_mode.close()
        scheduler.shutdown(wait=True)  # the pass records every outcome before we exit
        server.close()
    log.info("stopped")
    return 0


def port_problem(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"PORT {port}: another process already listens on {host}:{port}; stop it, "
            "or set PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return f"PORT {port}: this user may not listen on it; set PORT to 1024 or above"
    return f"PORT {port}: cannot listen on {host}:{port}: {exc.strerror or exc}"


# Answers to apps.connections.open that no retry will change: the token itself is wrong.
REFUSED_APP_TOKEN = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "not_allowed_token_type",
    "missing_scope",
}


class SocketModeLink:
    """The Socket Mode connection. A token Slack refuses stops start-up, naming
    SLACK_APP_TOKEN; while Slack cannot be reached, it says so and retries in the background
    with backoff (1 s, doubling, at most a minute), and /healthz keeps answering. Once
    connected, slack_sdk's client reconnects by itself."""

    def __init__(
        self, app: Any, token: str, *, first_delay: float = 1.0, max_delay: float = 60.0
    ) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        from slack_sdk import WebClient

        # apps.connections.open through a plain client of its own: the backoff here is the
        # only one, whatever the app's client does about an outage for its requests.
        opener = WebClient(base_url=app.client.base_url, timeout=10)
        self.handler = SocketModeHandler(app, token, web_client=opener)
        self.first_delay, self.max_delay = first_delay, max_delay
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.reason = ""  # why the last attempt failed
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._attempt(first=True):
            return
        self._thread = threading.Thread(target=self._retry, name="socket-mode", daemon=True)
        self._thread.start()

    def _attempt(self, *, first: bool = False) -> bool:
        self.handler.client.wss_uri = None  # a fresh URL each time: Slack's expire
        try:
            self.handler.connect()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped
        except SlackApiError as exc:
            error = str(exc.response.get("error"))
            if first and error in REFUSED_APP_TOKEN:
                raise SettingsError(
                    f"SLACK_APP_TOKEN: Slack refused it ({error}); give the app-level token "
                    "(xapp-...) with the connections:write scope from the app's Basic "
                    "Information page"
                ) from None
            self.reason = f"apps.connections.open answered {error}"
            return False
        except KeyError:
            self.reason = "apps.connections.open answered without a WebSocket URL"
            return False
        except URLError as exc:  # unreachable, refused, timed out, TLS: all worth a retry
            self.reason = f"{self.handler.client.web_client.base_url}: {exc.reason}"
            return False
        except Exception as exc:  # the WebSocket itself failed: worth a retry too
            self.reason = f"{type(exc).__name__}: {exc}"
            return False
        self.connected.set()
        log.info("Socket Mode connected to Slack")
        return True

    def _retry(self) -> None:
        delay = self.first_delay
        while True:
            log.warning(
                "cannot reach Slack for Socket Mode (%s); retrying in %.0f s", self.reason, delay
            )
            if self.stopping.wait(delay) or self._attempt():
                return
            delay = min(delay * 2, self.max_delay)

    def close(self) -> None:
        self.stopping.set()
        self.handler.close()  # type: ignore[no-untyped-call]


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
    return Sender(
        api_url=settings.slack_api_url,
        token_for=token_lookup(settings, database),
        rate_per_second=settings.nudge_rate_per_second,
    )


def token_lookup(settings: Settings, database: Database) -> Callable[[str], str | None]:
    """team id -> bot token: from the workspace's stored installation (OAuth), else the one
    SLACK_BOT_TOKEN."""
    from bot.data.installations import bot_token_finder, installation_store

    store = installation_store(
        database,
        client_id=settings.slack_client_id,
        encryption_key=settings.encryption_key(),
    )
    if store is not None:
        return bot_token_finder(store, database)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return lambda _team_id: token


def freeze_start_up(*, collect: bool = True) -> None:
    """Everything built so far (modules, the app, the engine) lives as long as the process:
    move it out of the garbage collector's sight, so a full collection during a pass walks
    only what the pass made (it walked all of it: over a tenth of a pass's CPU), and turn
    the collector on (`main` turned it off for the start-up). A process that exits after one
    pass skips collecting first (tens of milliseconds before its first DM): the little
    start-up garbage it freezes goes when it exits."""
    if collect:
        gc.collect()
    gc.freeze()
    gc.enable()


def start_scheduler(
    settings: Settings, database: Database, library: Library
) -> BackgroundScheduler:
    """APScheduler is only the clock: the database decides who is due, so every replica can
    run the same job without a shared job store."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    sender = make_sender(settings, database)

    def tick() -> None:
        try:
            report = nudge_pass(settings, database, sender, library, now=datetime.now(UTC))
        except DatabaseUnavailableError as exc:  # an expected bad day: one line, no trace
            log.warning("nudge tick: the database is unavailable (%s); the next tick retries", exc)
            return
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
    # What the command line says is checked first, then the environment.
    now = parse_instant(args.at) if args.at else datetime.now(UTC)
    settings = _settings(serving=False)  # answers no Slack request: no signing secret
    library = load_library(settings.content_dir)
    database = open_database(settings)
    wait_for_database(database, settings.database_wait_seconds)
    prepare_schema(database)
    sender = make_sender(settings, database)
    freeze_start_up(collect=False)
    report = nudge_pass(settings, database, sender, library, now=now)
    print(
        f"tick at {now.isoformat()}: {report.due} due, {report.claimed} claimed, "
        f"{report.summaries} weekly summaries, "
        f"{report.resent} resent, {report.missed} missed, {report.abandoned} abandoned, "
        f"outcomes {report.outcomes or 'none'}"
    )
    return 0


def prepare_schema(database: Database) -> None:
    """Bring the default SQLite file up to date by itself; ask for `migrate` elsewhere. A
    schema newer than the code is fine when its migrations say it still runs this code
    (expand/contract, bot/data/schema.py): an old pod in a rolling upgrade, or a rollback."""
    check = check_schema(database.engine)
    head, current = check.head, check.current
    if check.state is SchemaState.AT_HEAD:
        return
    if check.state is SchemaState.AHEAD_COMPATIBLE:
        log.info("database schema %s is newer than this code (%s) and still runs it", current, head)
        return
    if check.state is SchemaState.AHEAD_INCOMPATIBLE:
        raise SettingsError(
            f"DATABASE_URL: {check.reason}; run the newer version of psoas-bot, or roll the "
            f"schema back with it: `psoas-bot migrate --to {head}`"
        )
    if is_sqlite_file(database.url):
        upgrade(database.url)
        where = make_url(database.url).render_as_string(hide_password=True)
        log.info("database schema upgraded from %s to %s (%s)", current or "empty", head, where)
        return
    raise SettingsError(
        f"DATABASE_URL: the schema is at {current or 'nothing'}, the code needs {head}; "
        "run `psoas-bot migrate` first"
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_database_settings()
    logs.configure(json_lines=settings.log_format == "json")  # Alembic's lines too
    database = open_database(settings)
    wait_for_database(database, settings.database_wait_seconds)
    before = current_revision(database.engine)
    database.dispose()
    known = [script.revision for script in scripts().walk_revisions()]  # newest first
    head = known[0] if known else None
    target = args.to or head
    if target not in known:
        raise SettingsError(
            f"--to {args.to}: this code knows revisions {', '.join(reversed(known))}"
        )
    if before is not None and before not in known:
        # Newer code migrated this database; only that code has the steps back down.
        if args.to:
            raise SettingsError(
                f"the schema is at {before}, newer than this code ({head}): roll it back "
                f"with the newer version of psoas-bot (`psoas-bot migrate --to {args.to}`)"
            )
        print(f"database schema: {before} is newer than this code ({head}); nothing to do")
        return 0
    if before is None or known.index(target) <= known.index(before):
        upgrade(settings.database_url, target)
    else:
        downgrade(settings.database_url, target)
    print(f"database schema: {before or 'empty'} -> {target}")
    return 0


def cmd_rotate_key(_args: argparse.Namespace) -> int:
    from bot.data.installations import parse_keys, rotate_tokens

    settings = load_key_settings()
    logs.configure(json_lines=settings.log_format == "json")
    if settings.token_encryption_key is None:
        raise SettingsError("TOKEN_ENCRYPTION_KEY is not set: give the new key first, then the old")
    database = open_database(settings)
    changed = rotate_tokens(
        database.engine, parse_keys(settings.token_encryption_key.get_secret_value())
    )
    print(f"re-encrypted the tokens of {changed} stored installations with the first key")
    return 0


def cmd_content_check(args: argparse.Namespace) -> int:
    from bot.core.presence import load_presence

    content_dir = args.content_dir or load_content_settings().content_dir
    library = load_library(content_dir)
    load_presence(content_dir)  # what a status or huddle means: checked like the exercises
    print(f"content OK: {len(library.exercises)} exercises ({', '.join(library.slugs)})")
    return 0


def manifest_path() -> Path:
    return PACKAGED_MANIFEST if PACKAGED_MANIFEST.is_file() else CHECKOUT_MANIFEST


def load_manifest(*, socket_mode: bool = False) -> dict[str, Any]:
    import yaml

    manifest: dict[str, Any] = yaml.safe_load(manifest_path().read_text(encoding="utf-8"))
    if socket_mode:
        manifest.setdefault("settings", {})["socket_mode_enabled"] = True
    return manifest


def cmd_manifest(args: argparse.Namespace) -> int:
    import yaml

    if args.json:
        print(json.dumps(load_manifest(socket_mode=args.socket_mode), indent=2))
    elif args.socket_mode:
        print(yaml.safe_dump(load_manifest(socket_mode=True), sort_keys=False), end="")
    else:
        print(manifest_path().read_text(encoding="utf-8"), end="")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    try:
        from bot.sandbox import serve
    except ImportError as exc:
        raise SettingsError(f"the sandbox is not part of this build of psoas-bot ({exc})") from None
    argv = []
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.host is not None:
        argv += ["--host", args.host]
    if args.database is not None:
        argv += ["--database", args.database]
    sandbox_main: Callable[[list[str]], int | None] = serve.main
    return int(sandbox_main(argv) or 0)


# What each variable means, for `--help`; a setting missing here is still listed, by name.
VARIABLES = {
    "SLACK_SIGNING_SECRET": "verifies Slack's HTTP requests (HTTP mode; not Socket Mode)",
    "SLACK_BOT_TOKEN": "the bot token (xoxb-...) for one workspace",
    "SLACK_APP_TOKEN": "app-level token (xapp-...): Socket Mode instead of HTTP",
    "SLACK_CLIENT_ID": "OAuth for many workspaces, instead of SLACK_BOT_TOKEN",
    "SLACK_CLIENT_SECRET": "OAuth, with SLACK_CLIENT_ID",
    "TOKEN_ENCRYPTION_KEY": "Fernet key(s), newest first: stored bot tokens encrypted",
    "SLACK_API_URL": "base URL of Slack's Web API (default https://slack.com/api/)",
    "DATABASE_URL": "SQLAlchemy URL (default sqlite:///psoas-bot.db)",
    "DATABASE_WAIT_SECONDS": "how long start-up waits for the database (60)",
    "CONTENT_DIR": "the exercise library (default: the one in the package)",
    "PORT": "HTTP port for /slack/events, /healthz, /metrics (3000)",
    "LOG_FORMAT": "json (default) or text",
    "TICK_SECONDS": "seconds between nudge passes (20)",
    "NUDGE_RATE_PER_SECOND": "DMs per second per workspace (5)",
    "CLAIM_LEASE_SECONDS": "seconds before another replica takes over a claim (120)",
    "MAX_BODY_BYTES": "largest request body accepted (1000000)",
    "SERVER_THREADS": "web server threads (8)",
}
# Settings only a server answering Slack reads; `tick` reads the rest.
SERVING_ONLY = {
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "PORT",
    "MAX_BODY_BYTES",
    "SERVER_THREADS",
    "TICK_SECONDS",
}


def settings_variables() -> list[str]:
    return [name.upper() for name in Settings.model_fields]


def environment(names: Sequence[str]) -> str:
    width = max(len(name) for name in names)
    lines = [f"  {name:<{width}}  {VARIABLES.get(name, '')}".rstrip() for name in names]
    return "environment variables:\n" + "\n".join(lines)


def version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("psoas-bot")
    except importlib.metadata.PackageNotFoundError:
        return bot.__version__


class VersionAction(argparse.Action):
    """`--version`, the installed package's version looked up only when asked: reading the
    package metadata costs every other command milliseconds for nothing."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show program's version number and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"psoas-bot {version()}")  # on stdout, as argparse's own "version" action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psoas-bot",
        description=__doc__,
        epilog="`psoas-bot COMMAND --help` describes a command and the variables it reads.",
    )
    parser.add_argument("--version", action=VersionAction)
    parser.set_defaults(func=lambda _args: _usage(parser, "choose a command"))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        name: str, summary: str, description: str, variables: Sequence[str] = ()
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            epilog=environment(variables) if variables else "environment variables: none",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    run = command(
        "run",
        "serve Slack's requests (HTTP, or Socket Mode) and send the nudges",
        "Serve Slack: HTTP on PORT at /slack/events (or Socket Mode when SLACK_APP_TOKEN is\n"
        "set), /healthz and /metrics beside it, and a nudge pass every TICK_SECONDS. The\n"
        "default SQLite file is created and migrated on start; PostgreSQL needs\n"
        "`psoas-bot migrate` first.",
        settings_variables(),
    )
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.set_defaults(func=cmd_run)

    tick = command(
        "tick",
        "run one nudge pass and exit (cron, serverless)",
        "Run one nudge pass, print what it did, and exit: for cron or a serverless\n"
        "schedule instead of `run`'s own scheduler. Needs no signing secret.",
        [name for name in settings_variables() if name not in SERVING_ONLY],
    )
    tick.add_argument(
        "--at", help="the instant to run it at, ISO-8601 with an offset (default: now)"
    )
    tick.set_defaults(func=cmd_tick)

    migrate = command(
        "migrate",
        "bring the database schema up to date (or --to a revision)",
        "Bring the database schema to this code's head, or up or down to --to REVISION.\n"
        "Idempotent. Needs no Slack settings.",
        ["DATABASE_URL", "DATABASE_WAIT_SECONDS", "LOG_FORMAT"],
    )
    migrate.add_argument("--to", metavar="REVISION", help="a revision such as 0007 (default: head)")
    migrate.set_defaults(func=cmd_migrate)

    rotate = command(
        "rotate-key",
        "re-encrypt stored bot tokens with the first TOKEN_ENCRYPTION_KEY",
        "Re-encrypt every stored bot token (OAuth installs) with the first key of\n"
        "TOKEN_ENCRYPTION_KEY; the others are the old keys it can still read.",
        ["TOKEN_ENCRYPTION_KEY", "DATABASE_URL", "LOG_FORMAT"],
    )
    rotate.set_defaults(func=cmd_rotate_key)

    content = command(
        "content",
        "work with the exercise content (content check)",
        "Work with the exercise library: `psoas-bot content check` validates it.",
        ["CONTENT_DIR"],
    )
    content.set_defaults(
        func=lambda _args: _usage(content, "say what to do: `psoas-bot content check`")
    )
    content_commands = content.add_subparsers(dest="content_command", metavar="ACTION")
    check = content_commands.add_parser(
        "check",
        help="validate the exercise library without starting",
        description="Validate every exercise file and the guidance without starting the bot.",
        epilog=environment(["CONTENT_DIR"]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--content-dir",
        default=None,
        help="folder to check (default: CONTENT_DIR, else the library in the package)",
    )
    check.set_defaults(func=cmd_content_check)

    manifest = command(
        "manifest",
        "print the Slack app manifest (YAML, or --json)",
        "Print the Slack app manifest to create the app from (api.slack.com/apps -> Create\n"
        "New App -> From an app manifest), as YAML or JSON.",
    )
    manifest.add_argument("--json", action="store_true", help="JSON instead of YAML")
    manifest.add_argument(
        "--socket-mode",
        action="store_true",
        help="with socket_mode_enabled: true (the Slack CLI's `slack run`)",
    )
    manifest.set_defaults(func=cmd_manifest)

    sandbox = command(
        "sandbox",
        "try the whole bot in a browser, with no Slack app and no tokens",
        "Try psoas-bot with no Slack app and no tokens: the real bot beside a built-in local\n"
        "Slack, and a web page where sample people type /psoas, click buttons, open the Home\n"
        "tab and move a simulated clock to see nudges arrive.",
    )
    sandbox.add_argument("--port", type=int, default=None, help="port for the page (3000)")
    sandbox.add_argument("--host", default=None, help="address to listen on (127.0.0.1)")
    sandbox.add_argument(
        "--database",
        metavar="PATH",
        default=None,
        help="keep the sandbox's data in this SQLite file (default: a temporary one)",
    )
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def _usage(parser: argparse.ArgumentParser, message: str) -> int:
    parser.print_help(sys.stderr)
    print(f"\n{parser.prog}: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    collecting = gc.isenabled()
    gc.disable()  # during start-up, see the imports above
    try:
        logs.configure(json_lines=False)
        args = build_parser().parse_args(argv)
        if collecting and args.func not in (cmd_run, cmd_tick):
            gc.enable()  # no start-up worth sparing it: collect as usual
        return _command(args)
    finally:
        if collecting:
            gc.enable()


def _command(args: argparse.Namespace) -> int:
    """Run the command; an error an operator can fix said in one line, with its exit code."""
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
    except DatabaseUnavailableError as exc:  # a unit of work failed on the way (a pass, say)
        cause = exc.__cause__
        reason = getattr(cause, "orig", None) or cause or exc
        print(f"psoas-bot: cannot reach the database: {reason}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # Ctrl-C or a stop signal before the server was up: asked for
        print("psoas-bot: stopped before start-up finished", file=sys.stderr)
        return 0


if __name__ == "__main__":
    sys.exit(main())
