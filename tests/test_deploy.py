"""The deployment files agree with the bot: the image, compose, Kubernetes and the guide.

Each check asks the bot itself rather than a copy of what the files say: the image's command is
run as installed, its health checks and the Kubernetes probes are asked of that running bot,
its stop signals are sent to it, the migration Job's command migrates a database with the
package as the image builds it, and every variable the files pass is a setting the bot reads.
The files are parsed with PyYAML (the Dockerfile as text); Compose interpolation is left to
`docker compose`. Checks that need an outside tool (docker compose, kubectl,
kubernetes-validate, check-jsonschema) or PostgreSQL run when it is there and skip with the
reason otherwise.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from configparser import ConfigParser
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import ids
from bot.cli import build_parser, cmd_migrate, cmd_run
from bot.core.content import load_library
from bot.data.schema import current_revision, head_revision
from bot.settings import DatabaseSettings, Settings, load_settings
from bot.slack.wsgi import HEALTH_PATH, METRICS_PATH, READY_PATH
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
SECRET_EXAMPLE = "secret.example.yaml"

# What the bot reads from the environment: its settings (pydantic-settings, any case).
SETTINGS = {name.upper() for name in Settings.model_fields}
# What `psoas-bot migrate` reads: no Slack settings.
DATABASE_SETTINGS = {name.upper() for name in DatabaseSettings.model_fields}
# The settings that are secrets, and those the bot cannot start without.
SECRETS = {
    name.upper()
    for name, field in Settings.model_fields.items()
    if SecretStr in (field.annotation, *get_args(field.annotation))
}
REQUIRED = {name.upper() for name, field in Settings.model_fields.items() if field.is_required()}
# Python's own variables, which the image may set beside the bot's.
RUNTIME_VARIABLES = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
# `docker stop` and `docker compose down` wait this long by default before SIGKILL.
DOCKER_STOP_TIMEOUT_SECONDS = 10

log = logging.getLogger(__name__)


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[list[tuple[str, str]]]:
    """The build stages, each from its FROM on."""
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            found.append([])
        assert found, "the Dockerfile must start with FROM"
        found[-1].append((keyword, rest))
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def all_of(keyword: str, instructions: list[tuple[str, str]]) -> list[str]:
    return [rest for kw, rest in instructions if kw == keyword]


def one_of(keyword: str, instructions: list[tuple[str, str]]) -> str:
    found = all_of(keyword, instructions)
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def pip_install() -> tuple[list[tuple[str, str]], str]:
    """The stage that installs the bot, and its `pip install` command."""
    found = [
        (stage, rest)
        for stage in stages()
        for rest in all_of("RUN", stage)
        if "pip install" in rest
    ]
    assert len(found) == 1, f"install the bot with one `pip install`: {found}"
    return found[0]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in all_of("ENV", final_stage()):
        for word in shlex.split(rest):
            name, sep, value = word.partition("=")
            assert sep, f"use ENV NAME=value, not the legacy form: {rest!r}"
            env[name] = value
    return env


def image_uid() -> int:
    user = all_of("USER", final_stage())[-1]
    return int(user.split(":")[0])


def image_cmd() -> list[str]:
    return json.loads(one_of("CMD", final_stage()))


def image_entrypoint() -> list[str]:
    entrypoints = all_of("ENTRYPOINT", final_stage())
    return json.loads(entrypoints[-1]) if entrypoints else []


def image_stop_signal() -> signal.Signals:
    """What `docker stop` (and containerd, for Kubernetes) sends: STOPSIGNAL, else SIGTERM."""
    found = all_of("STOPSIGNAL", final_stage())
    if not found:
        return signal.SIGTERM
    name = found[-1]
    return signal.Signals(int(name)) if name.isdigit() else signal.Signals[name]


def copies(stage: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY from the build context (not from another stage)."""
    found = []
    for rest in all_of("COPY", stage):
        words = shlex.split(rest)
        if any(word.startswith("--from") for word in words):
            continue
        *sources, destination = [word for word in words if not word.startswith("--")]
        found.append((sources, destination))
    return found


def test_image_python_satisfies_the_projects_requires_python() -> None:
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    for rest in all_of("FROM", dockerfile_instructions()):
        image = rest.split()[0]
        match = re.fullmatch(r"(?:.+/)?python:(\d+\.\d+(?:\.\d+)?)(?:-[\w.-]+)?", image)
        assert match, f"{image}: cannot tell its Python version from the tag"
        assert requires.contains(match[1]), f"{image}: the bot needs Python {requires}"


@pytest.fixture(scope="module")
def image_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as the image's build stage installs it: what that stage copies from the
    build context, built by the project's own build backend (setuptools)."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools (the project's build backend) is not installed here")
    base = tmp_path_factory.mktemp("image-build")
    source, built = base / "src", base / "built"
    stage, _ = pip_install()
    # Docker skips these (see .dockerignore); a byte-compiled file is no part of the package.
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sources, destination in copies(stage):
        target = source / destination
        for name in sources:
            origin = ROOT / name
            if origin.is_dir():  # COPY dir/ dest/ copies what dir holds
                shutil.copytree(origin, target, ignore=skip, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    built.mkdir()
    build = [
        sys.executable,
        "-W",
        "ignore",
        "-c",
        "from setuptools import setup; setup()",
        "egg_info",
        "--egg-base",
        str(built),
        "build_py",
        "--build-lib",
        str(built / "lib"),
    ]
    result = subprocess.run(build, cwd=source, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return built


def console_script(package: Path, name: str) -> str:
    """`module:function` of a console script in the built package's metadata."""
    (entry_points,) = package.glob("*.egg-info/entry_points.txt")
    parser = ConfigParser()
    parser.read(entry_points)
    assert parser.has_option("console_scripts", name), f"the package installs no {name} script"
    return parser.get("console_scripts", name)


def test_image_build_packages_every_file_of_the_bot_and_the_psoas_bot_script(
    image_package,
) -> None:
    # Everything the bot reads at run time from its package (the migrations among it).
    wanted = {
        path.relative_to(ROOT)
        for path in (ROOT / "bot").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    lib = image_package / "lib"
    packaged = {path.relative_to(lib) for path in lib.rglob("*") if path.is_file()}
    assert wanted - packaged == set(), "missing from the image's package"
    assert any(path.parts[:3] == ("bot", "data", "migrations") for path in packaged)
    # The command the image runs is the script the package installs.
    assert console_script(image_package, image_cmd()[0]) == "bot.cli:main"


def test_image_installs_the_driver_its_database_urls_name() -> None:
    _, install = pip_install()
    match = re.search(r"""["']?\.\[([\w,-]+)\]["']?""", install)
    assert match, f"install the project with its extras: {install!r}"
    extras = match[1].split(",")
    optional = pyproject()["project"]["optional-dependencies"]
    installed = {Requirement(spec).name for extra in extras for spec in optional[extra]}
    compose = yaml.safe_load(COMPOSE.read_text())
    urls = [compose["services"][name]["environment"]["DATABASE_URL"] for name in ("migrate", "bot")]
    urls.append(k8s(SECRET_EXAMPLE)["stringData"]["DATABASE_URL"])
    for url in urls:  # make_url needs no interpolation: the driver is spelled out
        assert make_url(url).get_driver_name() in installed, url
    # No pip cache left in the layer.
    env = image_env()
    assert "--no-cache-dir" in install or env.get("PIP_NO_CACHE_DIR") not in (None, "", "0")


def test_image_runs_as_a_numeric_non_root_user() -> None:
    users = all_of("USER", final_stage())
    assert users, "the final stage must switch to a non-root USER"
    # Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), users[-1]
    assert image_uid() != 0


def test_image_package_carries_the_library_and_the_manifest(image_package) -> None:
    # The wheel is the product: the image reads the library and the manifest from its package,
    # not from a CONTENT_DIR it would have to keep in step.
    assert "CONTENT_DIR" not in image_env()
    lib = image_package / "lib" / "bot"
    assert load_library(lib / "content_data").exercises, "the packaged library must load"
    shipped = (lib / "manifest.yaml").read_text()
    assert shipped == (DEPLOY / "manifest.yaml").read_text()


def test_image_default_database_is_a_sqlite_file_on_a_volume_its_user_owns() -> None:
    # `docker run` with just the Slack variables: the SQLite default must be writable by the
    # image's user, and kept on a volume.
    url = make_url(image_env()["DATABASE_URL"])
    assert url.get_backend_name() == "sqlite" and url.database
    folder = str(Path(url.database).parent)
    volumes = [v for rest in all_of("VOLUME", final_stage()) for v in json.loads(rest)]
    assert folder in volumes, f"{folder} must be a VOLUME"
    made = " ".join(all_of("RUN", final_stage()))
    assert re.search(rf"chown {image_uid()}(:\d+)? {re.escape(folder)}\b", made), made


def test_image_installs_the_pinned_versions_and_they_satisfy_the_project() -> None:
    _, install = pip_install()
    match = re.search(r"(?:--constraint|-c)[ =](\S+)", install)
    assert match, f"install with the constraints file: {install!r}"
    pins = {}
    for line in (ROOT / match[1]).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins[canonical(requirement.name)] = spec.version
    project = pyproject()["project"]
    for spec in project["dependencies"] + project["optional-dependencies"]["postgres"]:
        requirement = Requirement(spec)
        name = canonical(requirement.name)
        assert name in pins, f"{name} is not pinned in {match[1]}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_image_exposes_the_port_the_bot_listens_on() -> None:
    env = image_env()
    port = Settings(slack_signing_secret="s", port=env["PORT"]).port
    assert int(one_of("EXPOSE", final_stage()).split("/")[0]) == port
    # Output reaches `docker logs` as it is written.
    assert env.get("PYTHONUNBUFFERED") not in (None, "", "0")


def test_image_command_is_the_installed_psoas_bot_run() -> None:
    command = image_cmd()
    assert image_entrypoint() == [], "an ENTRYPOINT would change what CMD and `args` mean"
    assert pyproject()["project"]["scripts"][command[0]] == "bot.cli:main"
    installed = importlib.metadata.entry_points(group="console_scripts", name=command[0])
    assert [entry.value for entry in installed] == ["bot.cli:main"]
    assert build_parser().parse_args(command[1:]).func is cmd_run


def healthcheck_command() -> str:
    rest = one_of("HEALTHCHECK", final_stage())
    options, sep, command = rest.partition(" CMD ")
    assert sep, f"HEALTHCHECK needs CMD: {rest!r}"
    assert all(word.startswith("--") for word in options.split())
    return command.strip()


def test_image_healthcheck_needs_nothing_the_slim_image_lacks() -> None:
    # The slim Python image has neither curl nor wget: the check runs Python.
    assert shlex.split(healthcheck_command())[0] == "python"


def test_dockerignore_keeps_out_local_state_but_not_what_the_image_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, pattern.removeprefix("**/"))
            or fnmatch.fnmatch(path.split("/")[0], pattern)
            or fnmatch.fnmatch(Path(path).name, pattern.removeprefix("**/"))
            for pattern in patterns
        )

    for path in (".git", ".venv", "tests", "psoas-bot.db", ".pytest_cache", ".hypothesis"):
        assert ignored(path), path
    assert ignored("bot/__pycache__") and ignored(".ruff_cache")
    copied = {source for stage in stages() for sources, _ in copies(stage) for source in sources}
    assert {"pyproject.toml", "bot/"} <= copied
    for path in copied:
        assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which is not there"
        assert not ignored(path.rstrip("/")), path
    assert not ignored("bot/data/migrations/env.py")


# --- the image's command, run as installed -----------------------------------------------------


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def container_env(tmp: Path, port: int, **settings: str) -> dict[str, str]:
    """What the image gives its command, on this machine: the image's ENV, `python` and
    `psoas-bot` on PATH as installed, the settings compose passes (a SQLite file here unless
    told), and no Slack reachable."""
    env = {name: value for name, value in os.environ.items() if name.upper() not in SETTINGS}
    env.update(image_env())
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env.update(
        PORT=str(port),
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=f"http://127.0.0.1:{unused_port()}/api/",
        DATABASE_URL=f"sqlite:///{tmp / 'bot.db'}",
    )
    env.update(settings)
    return env


def _signals_as_in_a_container() -> None:
    # A container's first process starts with every signal at its default, whatever
    # started pytest (a background shell ignores SIGINT, for one).
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def start(argv: list[str], env: dict[str, str], output: Path) -> subprocess.Popen[bytes]:
    with output.open("wb") as sink:
        return subprocess.Popen(
            argv,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=output.parent,
            preexec_fn=_signals_as_in_a_container,
        )


def relay(output: Path, name: str) -> str:
    """The process's output, also logged, so the suite's log checks (no secret in any line)
    cover the deployed process too."""
    lines = output.read_text(errors="replace")
    for line in lines.splitlines():
        log.info("%s: %s", name, line)
    return lines


def get(port: int, path: str) -> tuple[int, str, str]:
    """Status, Content-Type and body of GET path; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            body = response.read().decode()
            return response.status, response.headers["Content-Type"], body
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], ""
    except OSError:
        return 0, "", ""


def wait_until_serving(process: subprocess.Popen[bytes], port: int, output: Path) -> None:
    deadline = time.monotonic() + 60
    while get(port, HEALTH_PATH)[0] != 200:  # wait for the server to answer, not a fixed time
        assert process.poll() is None, relay(output, "psoas-bot")
        assert time.monotonic() < deadline, "the bot did not start: " + relay(output, "psoas-bot")
        time.sleep(0.1)


def wait_for_exit(process: subprocess.Popen[bytes], seconds: float) -> tuple[int | None, int]:
    """(exit code, or None if it still ran after `seconds` and was killed; peak RSS, bytes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return process.returncode, usage.ru_maxrss * 1024  # KiB on Linux
        time.sleep(0.05)
    process.kill()
    process.wait()
    return None, 0


def run_to_the_end(argv: list[str], env: dict[str, str], output: Path) -> tuple[int | None, int]:
    return wait_for_exit(start(argv, env, output), 120)


@pytest.fixture(scope="module")
def served_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The image's command, run as installed with the image's environment: its port."""
    tmp = tmp_path_factory.mktemp("served")
    port, output = unused_port(), tmp / "output"
    process = start(image_cmd(), container_env(tmp, port), output)
    try:
        wait_until_serving(process, port, output)
        yield port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        relay(output, "psoas-bot run")


def python_path_env(port: int) -> dict[str, str]:
    """An environment where `python` is this interpreter, as it is in the image."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "python").exists()
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PORT": str(port)}


def test_image_healthcheck_passes_on_the_running_bot_and_fails_without_one(served_bot) -> None:
    command = ["/bin/sh", "-c", healthcheck_command()]
    up = subprocess.run(command, env=python_path_env(served_bot), capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr.decode()
    down = subprocess.run(
        command, env=python_path_env(unused_port()), capture_output=True, timeout=30
    )
    assert down.returncode != 0


def test_compose_healthcheck_passes_on_the_running_bot_and_fails_without_one(
    compose, served_bot
) -> None:
    test = compose["services"]["bot"]["healthcheck"]["test"]
    assert test[0] == "CMD", "exec form: no shell needed"
    assert READY_PATH in test[-1], "healthy in compose means ready (depends_on waits on it)"
    for port, healthy in ((served_bot, True), (unused_port(), False)):
        env = python_path_env(port)
        argv = [shutil.which(test[1], path=env["PATH"]) or test[1], *test[2:]]
        result = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        assert (result.returncode == 0) is healthy, result.stderr.decode()


def test_kubernetes_probes_and_metrics_answer_on_the_port_the_bot_listens_on(
    deployment, served_bot
) -> None:
    container = only_container(deployment)
    ports = {port.get("name"): port["containerPort"] for port in container["ports"]}
    listening = int(container_value(container, "PORT") or image_env()["PORT"])
    # Each probe asks for what it is for: readiness, the database and the scheduler
    # (/readyz); liveness, only that the process serves (/healthz, no database).
    purposes = {"readinessProbe": READY_PATH, "livenessProbe": HEALTH_PATH}
    for probe, path in purposes.items():
        http_get = container[probe]["httpGet"]
        port = http_get["port"]
        assert ports.get(port, port) == listening, f"{probe} asks a port the bot does not use"
        assert http_get["path"] == path, f"{probe} should ask {path}"
        status, _, _ = get(served_bot, http_get["path"])
        assert 200 <= status < 400, f"{probe}: {http_get['path']} answers {status}"
    # Prometheus scrapes the same port (deploy/README.md).
    status, content_type, body = get(served_bot, METRICS_PATH)
    assert status == 200 and content_type.startswith("text/plain"), (status, content_type)
    assert "# TYPE psoas_" in body


@pytest.mark.parametrize("sender", ["STOPSIGNAL", "SIGTERM"])
def test_the_stop_signal_stops_the_bot_cleanly_within_the_grace_period_and_memory_limit(
    sender, deployment, tmp_path
) -> None:
    # The image's STOPSIGNAL (docker stop, containerd); SIGTERM (kubelets that ignore it).
    stop_signal = image_stop_signal() if sender == "STOPSIGNAL" else signal.SIGTERM
    port, output = unused_port(), tmp_path / "output"
    process = start(image_cmd(), container_env(tmp_path, port), output)
    wait_until_serving(process, port, output)
    process.send_signal(stop_signal)
    grace = min(
        pod_spec(deployment).get("terminationGracePeriodSeconds", 30),
        DOCKER_STOP_TIMEOUT_SECONDS,
    )
    exit_code, peak = wait_for_exit(process, grace)
    logged = relay(output, "psoas-bot run")
    assert exit_code == 0, f"{stop_signal.name} did not stop the bot cleanly: {logged}"
    assert "Traceback" not in logged
    assert SIGNING_SECRET not in logged and BOT_TOKEN not in logged
    limit = quantity(only_container(deployment)["resources"]["limits"]["memory"])
    assert peak < limit, f"the bot peaked at {peak / 2**20:.0f} MiB, over its limit"


# --- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def bot_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the bot's image."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("command", [None])[0] == image_cmd()[0]
    }


def test_compose_builds_the_bot_image_from_the_repository(compose) -> None:
    services = bot_services(compose)
    assert set(services) >= {"migrate", "bot"}
    for name, service in services.items():
        build = service["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name
    # One image: migrate brings the schema to the head of the code the bot runs.
    assert len({json.dumps(service["build"], sort_keys=True) for service in services.values()}) == 1
    assert len({service.get("image") for service in services.values()}) == 1


def test_compose_postgres_keeps_its_data_in_a_named_volume_and_reports_health(compose) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["healthcheck"]["test"], "migrate waits for service_healthy"
    # PGDATA of the official image (up to PostgreSQL 17) unless set.
    pgdata = (postgres.get("environment") or {}).get("PGDATA", "/var/lib/postgresql/data")
    volumes = [volume.split(":") for volume in postgres["volumes"]]
    kept = [name for name, target, *_ in volumes if f"{pgdata}/".startswith(f"{target}/")]
    assert kept, f"no volume holds {pgdata}"
    assert kept[0] in compose["volumes"], "a named volume keeps the data"


def test_compose_runs_migrate_once_postgres_is_healthy_and_the_bot_after_it_succeeded(
    compose,
) -> None:
    services = compose["services"]
    migrate, bot = services["migrate"], services["bot"]
    assert build_parser().parse_args(migrate["command"][1:]).func is cmd_migrate
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert str(migrate.get("restart", "no")) == "no", "a one-shot service"
    assert build_parser().parse_args(bot["command"][1:]).func is cmd_run
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    # The port published is the one the bot listens on, which its health check asks.
    listening = str(bot["environment"].get("PORT") or image_env()["PORT"])
    published = [str(port).rsplit(":", 1)[-1].split("/")[0] for port in bot.get("ports", [])]
    assert listening in published


def test_compose_database_url_points_at_the_postgres_service(compose) -> None:
    services = compose["services"]
    postgres = services["postgres"]["environment"]
    urls = {services[name]["environment"]["DATABASE_URL"] for name in ("migrate", "bot")}
    assert len(urls) == 1, f"migrate and bot must use one database: {urls}"
    # Compared as written: the same `${...}` expression gives the same value.
    url = make_url(urls.pop())
    assert url.get_backend_name() == "postgresql"
    assert url.host in services and "postgres" in services[url.host]["image"]
    assert (url.port or 5432) == 5432
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]


REFERENCE = re.compile(r"\$\{[A-Za-z_]\w*(?::?[-?+][^}]*)?\}")
REQUIRED_REFERENCE = re.compile(r"\$\{([A-Za-z_]\w*):?\?[^}]+\}")


@pytest.fixture
def no_settings_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read the environment too: only what a test passes may count."""
    for name in list(os.environ):
        if name.upper() in SETTINGS:
            monkeypatch.delenv(name)


def test_compose_passes_settings_the_bot_reads_and_takes_secrets_from_the_shell(
    compose, no_settings_in_env
) -> None:
    services = compose["services"]
    for name, reads in (("migrate", DATABASE_SETTINGS), ("bot", SETTINGS)):
        env = services[name].get("environment") or {}
        assert set(env) <= reads, f"{name} is passed what it does not read"
        for variable in SECRETS & set(env):
            # `NAME:` passes the shell's value through; `${...}` refers to it: never inlined.
            value = env[variable]
            assert value is None or REFERENCE.fullmatch(value), f"{variable} is inlined"
        # The values written out (no `$`) are ones the bot accepts.
        literal = {k.lower(): v for k, v in env.items() if v is not None and "$" not in str(v)}
        if name == "migrate":
            DatabaseSettings(**literal)
        else:
            Settings(**{"slack_signing_secret": "from-the-shell", **literal})
    # What the bot cannot start without comes from the shell, or compose refuses to start:
    # `${NAME:?message}`.
    bot_env = services["bot"]["environment"]
    for variable in REQUIRED:
        match = REQUIRED_REFERENCE.fullmatch(str(bot_env.get(variable)))
        assert match and match[1] == variable, f"{variable} must be required from the shell"


# --- Kubernetes ------------------------------------------------------------------------------


def k8s(file: str) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all((K8S / file).read_text()) if d]
    assert len(documents) == 1, f"{file}: one object per file"
    return documents[0]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def only_container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    assert len(containers) == 1
    return containers[0]


def container_argv(container: dict[str, Any]) -> list[str]:
    """What Kubernetes runs: `command` replaces the ENTRYPOINT, `args` the CMD."""
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*image_entrypoint(), *container.get("args", image_cmd())]


def container_value(container: dict[str, Any], name: str) -> str | None:
    for item in container.get("env", []):
        if item["name"] == name:
            return item.get("value")
    return None


def image_name(image: str) -> str:
    """The image without tag or digest, as kustomize's `images:` names it."""
    name = image.split("@")[0]
    return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return k8s("deployment.yaml")


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    return k8s("migration-job.yaml")


@pytest.fixture(scope="module")
def secret() -> dict[str, Any]:
    return k8s(SECRET_EXAMPLE)


def test_no_manifest_names_a_namespace() -> None:
    for path in sorted(K8S.glob("*.yaml")):
        assert "namespace" not in k8s(path.name).get("metadata", {}), path.name
        assert "namespace" not in k8s(path.name), path.name


def test_deployment_runs_the_bot_on_the_pods_it_selects(deployment) -> None:
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    argv = container_argv(only_container(deployment))
    assert argv[0] == image_cmd()[0], "the installed script"
    assert build_parser().parse_args(argv[1:]).func is cmd_run


def test_job_and_deployment_run_one_image_that_kustomize_points_elsewhere(deployment, job) -> None:
    image = only_container(deployment)["image"]
    assert only_container(job)["image"] == image, "migrate must bring the bot's own schema"
    kustomization = k8s("kustomization.yaml")
    assert {entry["name"] for entry in kustomization.get("images", [])} == {image_name(image)}


def test_deployment_and_job_take_their_settings_from_the_secret_by_reference(
    deployment, job, secret
) -> None:
    for obj, reads in ((deployment, SETTINGS), (job, DATABASE_SETTINGS)):
        container = only_container(obj)
        refs = [source["secretRef"]["name"] for source in container.get("envFrom", [])]
        assert refs == [secret["metadata"]["name"]]
        for item in container.get("env", []):
            assert item["name"] in reads, f"{item['name']} is not a setting the bot reads"
            if item["name"] in SECRETS | {"DATABASE_URL"}:  # the URL holds the password
                assert "value" not in item, f"{item['name']} is inlined, not referenced"


@pytest.mark.parametrize("file", ["deployment.yaml", "migration-job.yaml"])
def test_pods_run_locked_down_as_the_image_user(file) -> None:
    obj = k8s(file)
    pod = pod_spec(obj)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    assert pod.get("automountServiceAccountToken") is False
    container = only_container(obj)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # The one writable place is a scratch /tmp.
    mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
    assert set(mounts) == {"/tmp"}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([\d.]+)(m|Ki|Mi|Gi)?", str(text))
    assert match, text
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


@pytest.mark.parametrize("file", ["deployment.yaml", "migration-job.yaml"])
def test_containers_request_no_more_than_their_limits(file) -> None:
    resources = only_container(k8s(file))["resources"]
    for kind in ("cpu", "memory"):
        assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), kind


def test_service_sends_traffic_to_the_bots_http_port_and_not_to_the_job(deployment, job) -> None:
    service = k8s("service.yaml")
    container = only_container(deployment)
    named = {port.get("name") for port in container["ports"]}
    numbered = {port["containerPort"] for port in container["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in named | numbered, port
    selector = service["spec"]["selector"].items()
    assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert not selector <= job["spec"]["template"]["metadata"]["labels"].items()


def test_migration_job_retries_and_can_be_applied_alone(job) -> None:
    assert job["spec"]["backoffLimit"] >= 1, "retry while the database comes up"
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    # deploy/README.md applies it first with `-l app.kubernetes.io/component=migrate`.
    component = job["metadata"]["labels"]["app.kubernetes.io/component"]
    for file in ("deployment.yaml", "service.yaml"):
        assert k8s(file)["metadata"]["labels"]["app.kubernetes.io/component"] != component


def test_migration_job_brings_an_empty_database_to_the_schema_the_bot_needs(
    job, image_package, tmp_path
) -> None:
    argv = container_argv(only_container(job))
    assert build_parser().parse_args(argv[1:]).func is cmd_migrate
    # The Job's command, run from the package as the image builds it, not from the checkout.
    module, function = console_script(image_package, argv[0]).split(":")
    lib = str(image_package / "lib")
    script = (
        "import importlib, sys\n"
        f"module = importlib.import_module({module!r})\n"
        f"assert module.__file__.startswith({lib!r}), module.__file__\n"
        f"sys.exit(module.{function}())\n"
    )
    url = f"sqlite:///{tmp_path / 'job.db'}"
    env = container_env(tmp_path, unused_port(), DATABASE_URL=url, PYTHONPATH=lib)
    exit_code, peak = run_to_the_end(
        [sys.executable, "-c", script, *argv[1:]], env, tmp_path / "output"
    )
    logged = relay(tmp_path / "output", "psoas-bot migrate")
    assert exit_code == 0, logged
    engine = create_engine(url)
    try:
        assert current_revision(engine) == head_revision()  # what `psoas-bot run` checks
    finally:
        engine.dispose()
    limit = quantity(only_container(job)["resources"]["limits"]["memory"])
    assert peak < limit, f"migrate peaked at {peak / 2**20:.0f} MiB, over its limit"


@pytest.mark.postgres
def test_on_postgresql_the_bot_starts_only_once_the_migration_job_has_run(
    postgres_url, deployment, job, tmp_path
) -> None:
    """In a schema of its own, so the rest of the suite's tables are untouched."""
    schema = f"deploy_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = (
        make_url(postgres_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    run, migrate = container_argv(only_container(deployment)), container_argv(only_container(job))
    try:
        port = unused_port()
        env = container_env(tmp_path, port, DATABASE_URL=url)
        exit_code, _ = run_to_the_end(run, env, tmp_path / "early")
        early = relay(tmp_path / "early", "psoas-bot run")
        assert exit_code not in (0, None), early
        assert shlex.join(migrate) in early, "the refusal names the Job's command"

        exit_code, _ = run_to_the_end(migrate, env, tmp_path / "migrate")
        assert exit_code == 0, relay(tmp_path / "migrate", "psoas-bot migrate")

        process = start(run, env, tmp_path / "after")
        wait_until_serving(process, port, tmp_path / "after")
        process.send_signal(image_stop_signal())
        exit_code, _ = wait_for_exit(process, 30)
        assert exit_code == 0, relay(tmp_path / "after", "psoas-bot run")
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_secret_template_is_a_configuration_the_bot_accepts(secret, no_settings_in_env) -> None:
    assert secret["kind"] == "Secret"
    data = secret["stringData"]
    assert set(data) <= SETTINGS, f"keys the bot does not read: {set(data) - SETTINGS}"
    # Filled in with real values, it starts the bot; as written, its shapes already pass.
    settings = load_settings(**{name.lower(): value for name, value in data.items()})
    # Replicas share one database: PostgreSQL, not a SQLite file.
    assert make_url(settings.database_url).get_backend_name() == "postgresql"


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    listed = k8s("kustomization.yaml")["resources"]
    assert len(listed) == len(set(listed))
    assert all((K8S / name).is_file() for name in listed), listed
    expected = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", SECRET_EXAMPLE}
    assert set(listed) == expected


# --- every variable named in deploy/ is one the bot reads ---------------------------------------


def guide_settings() -> set[str]:
    """The guide's settings table: the first cell of each row names one or more variables."""
    rows = [line for line in (DEPLOY / "README.md").read_text().splitlines() if line[:3] == "| `"]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def deploy_variables() -> dict[str, set[str]]:
    """Variable names each deploy file sets for the bot, by file."""
    compose = yaml.safe_load(COMPOSE.read_text())
    found = {
        "Dockerfile": set(image_env()),
        "compose.yaml": {
            name for service in bot_services(compose).values() for name in service["environment"]
        },
        SECRET_EXAMPLE: set(k8s(SECRET_EXAMPLE)["stringData"]),
        "README.md": guide_settings(),
    }
    for file in ("deployment.yaml", "migration-job.yaml"):
        found[file] = {item["name"] for item in only_container(k8s(file)).get("env", [])}
    return found


def test_every_variable_in_deploy_is_a_setting_the_bot_reads() -> None:
    for file, names in deploy_variables().items():
        unknown = names - SETTINGS - RUNTIME_VARIABLES
        assert not unknown, f"{file} sets variables the bot does not read: {sorted(unknown)}"


def test_the_guide_names_every_setting_and_scope_the_bot_uses() -> None:
    assert SETTINGS - guide_settings() == set(), "settings missing from the guide's table"
    guide = (DEPLOY / "README.md").read_text()
    missing = [scope for scope in ids.BOT_SCOPES if f"`{scope}`" not in guide]
    assert missing == [], "scopes the bot asks for that the guide does not name"


# --- outside tools, when present -------------------------------------------------------------

MANIFESTS = ["deployment.yaml", "service.yaml", "migration-job.yaml", SECRET_EXAMPLE]


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_docker_compose_interpolates_settings_the_bot_accepts_and_requires_the_secret(
    no_settings_in_env,
) -> None:
    if not docker_compose_available():
        pytest.skip("`docker compose` is not available (no docker CLI or no compose plugin)")
    command = ["docker", "compose", "-f", str(COMPOSE), "config", "--format", "json"]
    shell = {
        k: v for k, v in os.environ.items() if k.upper() not in SETTINGS | {"POSTGRES_PASSWORD"}
    }
    given = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": BOT_TOKEN}
    ok = subprocess.run(command, env={**shell, **given}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    services = json.loads(ok.stdout)["services"]
    env = {k: v for k, v in (services["bot"].get("environment") or {}).items() if v is not None}
    assert "SLACK_CLIENT_ID" not in env, "an optional variable unset in the shell stays unset"
    settings = load_settings(**{name.lower(): value for name, value in env.items()})
    assert settings.slack_signing_secret.get_secret_value() == SIGNING_SECRET
    assert services["migrate"]["environment"]["DATABASE_URL"] == settings.database_url
    missing = subprocess.run(command, env=shell, capture_output=True, text=True)
    assert missing.returncode != 0 and "SLACK_SIGNING_SECRET" in missing.stderr


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def containers_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        c for o in objects if "template" in o.get("spec", {}) for c in pod_spec(o)["containers"]
    ]


def test_kubectl_kustomize_builds_the_manifests_and_points_every_pod_at_one_image(
    tmp_path,
) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    objects = kustomize_build(K8S)
    listed = [k8s(name) for name in k8s("kustomization.yaml")["resources"]]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in listed
    )
    # `-l app.kubernetes.io/component=migrate` (deploy/README.md) picks the Job alone.
    migrate = [
        o
        for o in objects
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == "migrate"
    ]
    assert [o["kind"] for o in migrate] == ["Job"]
    # One edit of `images:` points the bot and the Job at another image.
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text())
    for entry in kustomization["images"]:
        entry.update(newName="registry.test/elsewhere/psoas-bot", newTag="9.9.9")
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    images = {c["image"] for c in containers_of(kustomize_build(copy))}
    assert images == {"registry.test/elsewhere/psoas-bot:9.9.9"}


def test_kubernetes_schemas_accept_the_manifests() -> None:
    if importlib.util.find_spec("kubernetes_validate") is None:
        pytest.skip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    import kubernetes_validate

    for file in MANIFESTS:
        kubernetes_validate.validate(k8s(file), kubernetes_validate.latest_version(), strict=True)


def test_compose_spec_schema_accepts_the_file() -> None:
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    schema = ["--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *schema, str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
