"""What an operator meets on the command line: each error says what to do, with its exit code
(2: fix the configuration or the command line; 3: the database cannot be reached), and each
command reads only what it uses."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from cryptography.fernet import Fernet

from bot.cli import build_parser
from bot.data.schema import head_revision
from bot.settings import Settings
from tests.support.content import broken_copy
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET
from tests.support.standin import SlackStandIn, error, manifest_bot_scopes

ROOT = Path(__file__).resolve().parent.parent
APP_TOKEN = "xapp-1-A0001-0000-test"
SETTINGS = {name.upper() for name in Settings.model_fields}


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any of the bot's settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTINGS}
    return {**env, **settings}


def psoas(
    *args: str, env: dict[str, str], cwd: Path, prelude: str = ""
) -> subprocess.CompletedProcess[str]:
    """`psoas-bot ARGS` in a process of its own; `prelude` runs first (to hide a module)."""
    code = f"{prelude}\nimport sys\nfrom bot.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
    except requests.ConnectionError:
        return False


class Running:
    """`psoas-bot run` in the background, its output collected in a file."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.output = cwd / "output.log"
        with self.output.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--host", "127.0.0.1"],
                env={**env, "PYTHONPATH": str(ROOT)},
                cwd=cwd,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.output.read_text()

    def wait_for(self, predicate, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            assert self.process.poll() is None, f"exited while waiting for {what}: {self.log()}"
            assert time.monotonic() < deadline, f"no {what}: {self.log()}"
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


# --- the database ----------------------------------------------------------------------------

HIDE_PSYCOPG = "import sys; sys.modules['psycopg'] = None  # as after a plain `pip install`"


@pytest.mark.parametrize("command", [["migrate"], ["tick"], ["run"]])
def test_a_postgresql_url_without_its_driver_names_the_extra_to_install(
    command: list[str], tmp_path: Path
) -> None:
    env = clean_env(
        DATABASE_URL="postgresql+psycopg://psoas@127.0.0.1:1/psoas",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
    )
    result = psoas(*command, env=env, cwd=tmp_path, prelude=HIDE_PSYCOPG)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        "psoas-bot: configuration error: DATABASE_URL names the postgresql+psycopg driver, "
        "and the psycopg module is not installed: pip install 'psoas-bot[postgres]'"
    )


def test_a_sqlite_file_in_a_missing_folder_says_the_path_at_once(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "bot.db"
    env = clean_env(DATABASE_URL=f"sqlite:///{missing}", SLACK_BOT_TOKEN=BOT_TOKEN)
    started = time.monotonic()
    result = psoas("tick", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"psoas-bot: configuration error: DATABASE_URL: the SQLite file {missing} cannot be "
        f"created: the folder {missing.parent} does not exist"
    )
    assert time.monotonic() - started < 20, "no wait for a database that cannot come"


def test_a_sqlite_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path}")
    result = psoas("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"DATABASE_URL: the SQLite file {tmp_path} is a folder" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any folder")
def test_a_sqlite_folder_this_user_cannot_write_says_so(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    env = clean_env(DATABASE_URL=f"sqlite:///{locked / 'bot.db'}")
    result = psoas("migrate", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "is not writable by this user" in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["tick", "--at", "2026-11-25T15:00:00+00:00"]])
def test_an_unreachable_database_exits_3_after_waiting(tmp_path: Path, command: list[str]) -> None:
    env = clean_env(
        DATABASE_URL="postgresql+psycopg://psoas@127.0.0.1:1/psoas",
        DATABASE_WAIT_SECONDS="0",
        SLACK_BOT_TOKEN="xoxb-test-bot-token-5c1d",
    )
    result = psoas(*command, env=env, cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "psoas-bot: cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_migrate_logs_as_log_format_says(log_format: str, sqlite_url: str, tmp_path: Path) -> None:
    result = psoas(
        "migrate", env=clean_env(DATABASE_URL=sqlite_url, LOG_FORMAT=log_format), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    head = head_revision()
    assert result.stdout.strip() == f"database schema: empty -> {head}"
    lines = result.stderr.splitlines()
    assert any("Running upgrade 0007 -> 0008" in line for line in lines)
    for line in lines:
        if log_format == "json":
            assert json.loads(line)["message"], line
        else:
            assert not line.startswith("{"), line


# --- what each command needs -----------------------------------------------------------------


def test_tick_needs_no_signing_secret(sqlite_url: str, tmp_path: Path) -> None:
    standin = SlackStandIn().start()
    try:
        env = clean_env(
            DATABASE_URL=sqlite_url, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=standin.api_url
        )
        result = psoas("tick", "--at", "2026-11-25T15:00:00+00:00", env=env, cwd=tmp_path)
    finally:
        standin.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("tick at 2026-11-25T15:00:00+00:00: 0 due")


# As if the web app's and the scheduler's packages were not installed.
HIDE_SERVING = "import sys; sys.modules.update(slack_bolt=None, apscheduler=None, waitress=None)"


@pytest.mark.parametrize("mode", ["single token", "OAuth"])
def test_tick_loads_neither_the_web_app_nor_the_scheduler(
    mode: str, sqlite_url: str, tmp_path: Path
) -> None:
    """A tick from cron is a process per pass: what only `run` needs is not loaded."""
    tokens = (
        {"SLACK_BOT_TOKEN": BOT_TOKEN}
        if mode == "single token"
        else {
            "SLACK_CLIENT_ID": "1111.2222",
            "SLACK_CLIENT_SECRET": "client-secret",
            "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    )
    standin = SlackStandIn().start()
    try:
        env = clean_env(DATABASE_URL=sqlite_url, SLACK_API_URL=standin.api_url, **tokens)
        at = "2026-11-25T15:00:00+00:00"
        result = psoas("tick", "--at", at, env=env, cwd=tmp_path, prelude=HIDE_SERVING)
    finally:
        standin.stop()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"tick at {at}: 0 due")


HIDE_ALEMBIC = "import sys; sys.modules['alembic'] = None"


def test_a_tick_on_a_schema_at_head_does_not_load_alembic(sqlite_url: str, tmp_path: Path) -> None:
    """Cron starts a tick every minute: on a schema already at head, Alembic (a quarter of
    its start-up) stays unloaded. An empty file still gets migrated: there Alembic loads."""
    standin = SlackStandIn().start()
    try:
        env = clean_env(
            DATABASE_URL=sqlite_url, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=standin.api_url
        )
        at = "2026-11-25T15:00:00+00:00"
        empty = psoas("tick", "--at", at, env=env, cwd=tmp_path, prelude=HIDE_ALEMBIC)
        assert empty.returncode != 0
        assert "alembic" in empty.stderr
        migrated = psoas("tick", "--at", at, env=env, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        at_head = psoas("tick", "--at", at, env=env, cwd=tmp_path, prelude=HIDE_ALEMBIC)
    finally:
        standin.stop()
    assert at_head.returncode == 0, at_head.stderr
    assert at_head.stdout.startswith(f"tick at {at}: 0 due")


def test_migrate_needs_only_the_database(sqlite_url: str, tmp_path: Path) -> None:
    result = psoas("migrate", env=clean_env(DATABASE_URL=sqlite_url), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_rotate_key_needs_only_the_database_and_the_key(sqlite_url: str, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    assert psoas("migrate", env=clean_env(DATABASE_URL=sqlite_url), cwd=tmp_path).returncode == 0
    env = clean_env(DATABASE_URL=sqlite_url, TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    result = psoas("rotate-key", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "re-encrypted the tokens of 0 stored installations" in result.stdout


def test_the_command_line_is_checked_before_the_environment(tmp_path: Path) -> None:
    result = psoas("tick", "--at", "garbage", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "psoas-bot: configuration error: --at 'garbage' is not an ISO-8601 time; "
        "use e.g. 2026-11-25T15:00:00+00:00"
    )


def test_content_is_checked_before_anything_is_created(tmp_path: Path) -> None:
    content = broken_copy(tmp_path, "march", "steps:", "stepz:")
    database = tmp_path / "bot.db"
    env = clean_env(
        DATABASE_URL=f"sqlite:///{database}",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        CONTENT_DIR=str(content),
    )
    for command in ("run", "tick"):
        result = psoas(command, env=env, cwd=tmp_path)
        assert result.returncode == 2
        assert (
            result.stderr.startswith("psoas-bot: content error: ") and "march.yaml" in result.stderr
        )
        assert not database.exists(), f"{command} created the database before checking content"


def test_messages_name_the_variable_without_pydantics_prefix(tmp_path: Path) -> None:
    env = clean_env(SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN="bot-token", PORT="http")
    result = psoas("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is invalid: a bot token starts with 'xoxb-'" in result.stderr
    assert "PORT is invalid" in result.stderr
    assert "Value error" not in result.stderr and "bot-token" not in result.stderr


def test_http_mode_still_needs_the_signing_secret(tmp_path: Path) -> None:
    result = psoas("run", env=clean_env(SLACK_BOT_TOKEN=BOT_TOKEN), cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is not set" in result.stderr
    assert "SLACK_APP_TOKEN for Socket Mode" in result.stderr


# --- serving ---------------------------------------------------------------------------------


def test_a_busy_port_names_port(sqlite_url: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(
            DATABASE_URL=sqlite_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            PORT=str(port),
        )
        result = psoas("run", "--host", "127.0.0.1", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"psoas-bot: configuration error: PORT {port}: another process already listens on "
        f"127.0.0.1:{port}; stop it, or set PORT to a free port"
    )
    assert "Traceback" not in result.stderr


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    # An app with an app-level token for Socket Mode: its connections:write scope too.
    server = SlackStandIn(scopes=manifest_bot_scopes() | {"connections:write"}).start()
    yield server
    server.stop()


def test_socket_mode_with_slack_unreachable_says_so_and_retries_with_backoff(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = unused_port()
    nowhere = f"http://127.0.0.1:{unused_port()}/api/"
    env = clean_env(
        DATABASE_URL=sqlite_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,  # and no signing secret: Socket Mode needs none
        SLACK_API_URL=nowhere,
        PORT=str(port),
        LOG_FORMAT="text",
    )
    bot = Running(env, tmp_path)
    try:
        bot.wait_for(lambda: "retrying in 2 s" in bot.log(), "second retry", seconds=30)
        assert healthy(port), "/healthz answers while Slack is away"
    finally:
        code = bot.stop()
    log = bot.log()
    assert code == 0, log
    assert f"cannot reach Slack for Socket Mode ({nowhere}: [Errno 111] Connection refused)" in log
    assert "retrying in 1 s" in log
    assert "Traceback" not in log and APP_TOKEN not in log


def test_socket_mode_with_a_refused_app_token_names_it(
    sqlite_url: str, tmp_path: Path, standin: SlackStandIn
) -> None:
    standin.script("apps.connections.open", error("invalid_auth"))
    env = clean_env(
        DATABASE_URL=sqlite_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=standin.api_url,
        PORT=str(unused_port()),
    )
    result = psoas("run", "--host", "127.0.0.1", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert (
        "psoas-bot: configuration error: SLACK_APP_TOKEN: Slack refused it (invalid_auth)"
        in result.stderr
    )
    assert [call.token for call in standin.calls_to("apps.connections.open")] == [APP_TOKEN]


# --- the commands themselves -----------------------------------------------------------------

VARIABLES_READ = {
    "run": SETTINGS,
    "tick": {
        "DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_CLIENT_ID",
        "TOKEN_ENCRYPTION_KEY",
        "SLACK_API_URL",
        "CONTENT_DIR",
        "NUDGE_RATE_PER_SECOND",
        "CLAIM_LEASE_SECONDS",
        "LOG_FORMAT",
    },
    "migrate": {"DATABASE_URL", "LOG_FORMAT"},
    "rotate-key": {"DATABASE_URL", "TOKEN_ENCRYPTION_KEY"},
    "content": {"CONTENT_DIR"},
}


def help_of(*command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:  # the parser alone: main() would set up logging
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", sorted(VARIABLES_READ))
def test_each_commands_help_describes_it_and_lists_the_variables_it_reads(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_of(command, capsys=capsys)
    description = text.split("\n\n")[1]
    assert len(description) > 40, text
    listed = text.split("environment variables:")[1]
    for name in VARIABLES_READ[command]:
        assert f"  {name} " in listed or listed.rstrip().endswith(name), (name, text)
    if command == "tick":  # it answers no request from Slack
        assert "SLACK_SIGNING_SECRET" not in listed and "PORT" not in listed


def test_every_command_has_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"run", "tick", "migrate", "rotate-key", "content", "manifest", "sandbox"} <= set(names)
    for name in names:
        assert "environment variables:" in help_of(name, capsys=capsys)
    assert "CONTENT_DIR" in help_of("content", "check", capsys=capsys)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "psoas-bot 0.1.0"


def test_content_alone_says_what_to_do(tmp_path: Path) -> None:
    result = psoas("content", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "psoas-bot content: say what to do: `psoas-bot content check`"
    )
    assert "required" not in result.stderr


def test_no_command_shows_the_commands(tmp_path: Path) -> None:
    result = psoas(env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "manifest" in result.stderr and "choose a command" in result.stderr


def test_manifest_prints_the_one_manifest_as_yaml_or_json(tmp_path: Path) -> None:
    source = (ROOT / "deploy" / "manifest.yaml").read_text()
    as_yaml = psoas("manifest", env=clean_env(), cwd=tmp_path)
    assert as_yaml.returncode == 0 and as_yaml.stdout == source
    as_json = psoas("manifest", "--json", env=clean_env(), cwd=tmp_path)
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == yaml.safe_load(source)


def test_sandbox_without_its_module_says_so(tmp_path: Path) -> None:
    hide = "import sys; sys.modules['bot.sandbox.serve'] = None"
    result = psoas("sandbox", env=clean_env(), cwd=tmp_path, prelude=hide)
    assert result.returncode == 2
    assert "psoas-bot: configuration error: the sandbox is not part of this build" in result.stderr
