"""`psoas-bot`: run the bot, check the content, and (with the database) migrate and tick."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from bot.content import ContentError, load_library
from bot.database import Database, current_revision, head_revision, is_sqlite_file, upgrade
from bot.settings import SettingsError, load_database_settings, load_settings

log = logging.getLogger("bot")


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from bot.app import build_app
    from bot.server import make_server
    from bot.web import WebApp

    settings = load_settings()
    database = Database(settings.database_url)
    prepare_schema(database)
    app = build_app(settings, database=database)
    web_app = WebApp(app, max_body_bytes=settings.max_body_bytes)
    server = make_server(
        web_app,
        host=args.host,
        port=settings.port,
        threads=settings.server_threads,
        max_body_bytes=settings.max_body_bytes,
    )
    if settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(app, settings.slack_app_token.get_secret_value()).connect()
        log.info("Socket Mode connected; /healthz on port %s", settings.port)
    else:
        log.info("listening on http://%s:%s/slack/events", args.host, settings.port)
    try:
        server.run()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.close()
    return 0


def prepare_schema(database: Database) -> None:
    """Bring the default SQLite file up to date by itself; ask for `migrate` elsewhere."""
    head = head_revision()
    current = current_revision(database.engine)
    if current == head:
        return
    if is_sqlite_file(database.url):
        upgrade(database.url)
        log.info("database schema upgraded from %s to %s (%s)", current, head, database.url)
        return
    raise SettingsError(
        f"DATABASE_URL: the schema is at {current or 'nothing'}, the code needs {head}; "
        "run `psoas-bot migrate` first"
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    url = load_database_settings().database_url
    database = Database(url)
    before = current_revision(database.engine)
    database.dispose()
    upgrade(url)
    print(f"database schema: {before or 'empty'} -> {head_revision()}")
    return 0


def cmd_content_check(args: argparse.Namespace) -> int:
    library = load_library(args.content_dir)
    print(f"content OK: {len(library.exercises)} exercises ({', '.join(library.slugs)})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="psoas-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve Slack's requests (HTTP, or Socket Mode)")
    run.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    run.set_defaults(func=cmd_run)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=cmd_migrate)

    content = commands.add_parser("content", help="work with the exercise content")
    content_commands = content.add_subparsers(dest="content_command", required=True)
    check = content_commands.add_parser("check", help="validate content/ without starting")
    check.add_argument("--content-dir", default=None, help="folder to check (default content/)")
    check.set_defaults(func=cmd_content_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _configure_logging()
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


if __name__ == "__main__":
    sys.exit(main())
