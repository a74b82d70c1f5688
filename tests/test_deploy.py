"""The deployment files agree with the app: the image, compose, Kubernetes and the guide.

Structural checks parse the files (PyYAML; the Dockerfile as text) and never skip. The health
checks are run for real against the bot's WSGI app. Checks that need an outside tool
(kubeconform, docker compose, kubectl, kubernetes-validate, check-jsonschema) run when it is
there and skip with the reason otherwise.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App
from sqlalchemy.engine import make_url

from bot.cli import build_parser, cmd_migrate, cmd_run
from bot.settings import Settings
from bot.slack.wsgi import HEALTH_PATH, WebApp
from tests.support.serving import BackgroundServer

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
SECRET_EXAMPLE = "secret.example.yaml"

# Variables the app reads: its settings, plus those announced for OAuth, plus Python's own.
APP_VARIABLES = {name.upper() for name in Settings.model_fields} | {
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "TOKEN_ENCRYPTION_KEY",
    "CONTENT_DIR",
}
RUNTIME_VARIABLES = {"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}


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


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def all_of(keyword: str, instructions: list[tuple[str, str]]) -> list[str]:
    return [rest for kw, rest in instructions if kw == keyword]


def one_of(keyword: str, instructions: list[tuple[str, str]]) -> str:
    found = all_of(keyword, instructions)
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
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


def test_image_is_built_on_slim_python_311() -> None:
    bases = [rest.split()[0] for rest in all_of("FROM", dockerfile_instructions())]
    assert bases, "no FROM"
    assert all(re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?", base) for base in bases), bases


def test_image_installs_the_package_with_the_postgres_driver_and_no_pip_cache() -> None:
    installs = [r for r in all_of("RUN", dockerfile_instructions()) if "pip install" in r]
    assert len(installs) == 1, installs
    assert "--no-cache-dir" in installs[0]
    assert ".[postgres]" in installs[0]
    copied = " ".join(all_of("COPY", dockerfile_instructions()))
    for needed in ("pyproject.toml", "README.md", "bot/"):
        assert needed in copied, f"the build needs {needed}"


def test_image_runs_as_a_numeric_non_root_user() -> None:
    users = all_of("USER", final_stage())
    assert users, "the final stage must switch to a non-root USER"
    # Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assert re.fullmatch(r"\d+(:\d+)?", users[-1]), users[-1]
    assert image_uid() != 0


def test_image_carries_the_content_and_points_content_dir_at_it() -> None:
    stage = final_stage()
    assert one_of("WORKDIR", stage) == "/app"
    env = image_env()
    copies = [shlex.split(rest) for rest in all_of("COPY", stage)]
    content = [words for words in copies if words[0].rstrip("/") == "content"]
    assert len(content) == 1, f"copy content/ into the final stage once: {copies}"
    destination = content[0][-1].rstrip("/")
    if not destination.startswith("/"):
        destination = "/app/" + destination
    assert env["CONTENT_DIR"] == destination == "/app/content"
    assert (ROOT / "content" / "exercises").is_dir()


def test_image_env_port_and_expose_agree() -> None:
    env = image_env()
    assert env["PORT"] == "3000"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert one_of("EXPOSE", final_stage()).split("/")[0] == env["PORT"]


def test_image_command_is_psoas_bot_run() -> None:
    command = json.loads(one_of("CMD", final_stage()))
    assert command == ["psoas-bot", "run"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[command[0]] == "bot.cli:main"
    assert build_parser().parse_args(command[1:]).func is cmd_run


def test_image_stops_with_sigint() -> None:
    # As PID 1 the bot has no SIGTERM handler, so SIGTERM would be dropped; SIGINT is what
    # `psoas-bot run` turns into a clean stop.
    assert one_of("STOPSIGNAL", final_stage()) == "SIGINT"


def healthcheck_command() -> str:
    rest = one_of("HEALTHCHECK", final_stage())
    options, sep, command = rest.partition(" CMD ")
    assert sep, f"HEALTHCHECK needs CMD: {rest!r}"
    assert all(word.startswith("--") for word in options.split())
    return command.strip()


def test_image_healthcheck_asks_healthz_on_port_without_curl() -> None:
    command = healthcheck_command()
    assert "curl" not in command and "wget" not in command  # neither is in the slim image
    assert f"127.0.0.1:${{PORT}}{HEALTH_PATH}" in command


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
    for path in ("pyproject.toml", "README.md", "bot/cli.py", "content/exercises", "deploy"):
        assert not ignored(path), path


# --- the health checks, run for real -----------------------------------------------------------


@pytest.fixture(scope="module")
def healthz_port() -> Iterator[int]:
    """The bot's WSGI app behind waitress: /healthz answers as in production."""
    app = App(signing_secret="s", token="xoxb-test", token_verification_enabled=False)
    with BackgroundServer(WebApp(app, max_body_bytes=1_000_000)) as server:
        yield int(server.url.rsplit(":", 1)[1])


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def python_path_env(port: int) -> dict[str, str]:
    """An environment where `python` is this interpreter, as it is in the image."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "python").exists()
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PORT": str(port)}


def test_image_healthcheck_passes_on_a_serving_bot_and_fails_without_one(healthz_port) -> None:
    command = ["/bin/sh", "-c", healthcheck_command()]
    up = subprocess.run(command, env=python_path_env(healthz_port), capture_output=True, timeout=30)
    assert up.returncode == 0, up.stderr.decode()
    down = subprocess.run(
        command, env=python_path_env(unused_port()), capture_output=True, timeout=30
    )
    assert down.returncode != 0


def test_compose_healthcheck_passes_on_a_serving_bot_and_fails_without_one(
    compose, healthz_port
) -> None:
    test = compose["services"]["bot"]["healthcheck"]["test"]
    assert test[0] == "CMD", "exec form: no shell needed"
    for port, healthy in ((healthz_port, True), (unused_port(), False)):
        env = python_path_env(port)
        argv = [shutil.which(test[1], path=env["PATH"]) or test[1], *test[2:]]
        result = subprocess.run(argv, env=env, capture_output=True, timeout=30)
        assert (result.returncode == 0) is healthy, result.stderr.decode()


# --- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)"
)


class MissingVariableError(Exception):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg")
        value = env.get(name)
        unset = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and unset:
            return arg
        if op in (":?", "?") and unset:
            raise MissingVariableError(f"{name}: {arg}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def service_env(service: dict[str, Any], env: Mapping[str, str]) -> dict[str, str]:
    """What the container gets: `NAME:` with no value passes NAME through only when set."""
    result: dict[str, str] = {}
    for name, value in (service.get("environment") or {}).items():
        if value is None:
            if name in env:
                result[name] = env[name]
        else:
            result[name] = interpolate(str(value), env)
    return result


USER_ENV = {"SLACK_SIGNING_SECRET": "signing-secret", "SLACK_BOT_TOKEN": "xoxb-1-2-3"}


def test_compose_postgres_is_16_with_a_healthcheck_and_a_volume(compose) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].split(":")[0] == "postgres"
    assert postgres["image"].split(":")[1].split(".")[0] == "16"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    volume = postgres["volumes"][0].split(":")
    assert volume[1] == "/var/lib/postgresql/data"
    assert volume[0] in compose["volumes"], "a named volume keeps the data"


@pytest.mark.parametrize("name", ["migrate", "bot"])
def test_compose_builds_the_app_image_from_the_repository(compose, name) -> None:
    build = compose["services"][name]["build"]
    context = (COMPOSE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_migrate_runs_migrate_once_postgres_is_healthy(compose) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["psoas-bot", "migrate"]
    assert build_parser().parse_args(migrate["command"][1:]).func is cmd_migrate
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert str(migrate.get("restart", "no")) == "no", "a one-shot service"


def test_compose_bot_starts_after_migrate_succeeded(compose) -> None:
    bot = compose["services"]["bot"]
    assert bot["command"] == ["psoas-bot", "run"]
    assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "3000:3000" in bot["ports"]


def test_compose_database_url_points_at_the_postgres_service(compose) -> None:
    services = compose["services"]
    postgres = service_env(services["postgres"], USER_ENV)
    urls = {service_env(services[name], USER_ENV)["DATABASE_URL"] for name in ("migrate", "bot")}
    assert len(urls) == 1, f"migrate and bot must use one database: {urls}"
    url = make_url(urls.pop())
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "postgres" and url.host in services
    assert (url.port or 5432) == 5432
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.database == postgres["POSTGRES_DB"]


def test_compose_requires_the_signing_secret_and_gives_settings_the_app_accepts(compose) -> None:
    bot = compose["services"]["bot"]
    with pytest.raises(MissingVariableError, match="SLACK_SIGNING_SECRET"):
        service_env(bot, {"SLACK_BOT_TOKEN": "xoxb-1"})
    env = service_env(bot, USER_ENV)
    assert env["SLACK_SIGNING_SECRET"] == "signing-secret"
    # Optional variables absent from the shell are not passed as "" (an empty client id
    # would read as OAuth configured).
    assert "SLACK_CLIENT_ID" not in env and "SLACK_APP_TOKEN" not in env
    settings = Settings(**{name.lower(): value for name, value in env.items()})
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1-2-3"
    assert make_url(settings.database_url).get_backend_name() == "postgresql"


def test_compose_migrate_needs_no_slack_secret(compose) -> None:
    env = service_env(compose["services"]["migrate"], {})
    assert set(env) == {"DATABASE_URL"}


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


def test_deployment_runs_three_replicas_of_the_bot(deployment) -> None:
    assert deployment["kind"] == "Deployment"
    assert deployment["spec"]["replicas"] == 3
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    container = only_container(deployment)
    assert container["image"] == "ghcr.io/example/psoas-bot:0.1.0"
    assert container.get("command", container.get("args")) == ["psoas-bot", "run"]


def test_deployment_probes_healthz_on_the_named_http_port(deployment) -> None:
    container = only_container(deployment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 3000}
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    assert int(env.get("PORT", image_env()["PORT"])) == ports["http"]
    for probe in ("readinessProbe", "livenessProbe"):
        http_get = container[probe]["httpGet"]
        assert http_get == {"path": HEALTH_PATH, "port": "http"}, probe


def test_deployment_and_job_read_the_secret_whole(deployment, job, secret) -> None:
    for obj in (deployment, job):
        env_from = only_container(obj)["envFrom"]
        assert env_from == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    assert secret["metadata"]["name"] == "psoas-bot"


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
    # The bot idles near 75 MiB; leave it room.
    assert quantity(resources["limits"]["memory"]) >= 192 * 2**20


def test_service_sends_port_80_to_the_named_http_port(deployment) -> None:
    service = k8s("service.yaml")
    assert service["kind"] == "Service"
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_migration_job_runs_migrate_with_the_bot_image(job, deployment) -> None:
    assert job["kind"] == "Job"
    container = only_container(job)
    command = container.get("command", container.get("args"))
    assert command == ["psoas-bot", "migrate"]
    assert build_parser().parse_args(command[1:]).func is cmd_migrate
    assert container["image"] == only_container(deployment)["image"]
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    # Selecting the Job alone (kubectl apply -k ... -l) must not pick up the bot.
    job_labels = job["metadata"]["labels"]
    assert job_labels["app.kubernetes.io/component"] == "migrate"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/component"] != "migrate"


def test_secret_example_has_placeholders_the_app_understands(secret) -> None:
    assert secret["kind"] == "Secret"
    data = secret["stringData"]
    assert {"SLACK_SIGNING_SECRET", "DATABASE_URL"} <= set(data)
    assert "SLACK_BOT_TOKEN" in data or {"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"} <= set(data)
    assert make_url(data["DATABASE_URL"]).drivername == "postgresql+psycopg"
    assert all(isinstance(value, str) and value for value in data.values())


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = k8s("kustomization.yaml")
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert all((K8S / name).is_file() for name in listed), listed
    expected = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", SECRET_EXAMPLE}
    assert set(listed) == expected == {"deployment.yaml", "service.yaml", "migration-job.yaml"}
    images = {image["name"] for image in kustomization.get("images", [])}
    assert images <= {"ghcr.io/example/psoas-bot"}


# --- every variable named in deploy/ is one the app reads -------------------------------------


def deploy_variables() -> dict[str, set[str]]:
    """Variable names each deploy file sets for the app, by file."""
    compose = yaml.safe_load(COMPOSE.read_text())
    found = {
        "Dockerfile": set(image_env()),
        "compose.yaml": {
            name
            for service in ("migrate", "bot")
            for name in compose["services"][service].get("environment") or {}
        },
        SECRET_EXAMPLE: set(k8s(SECRET_EXAMPLE)["stringData"]),
    }
    for file in ("deployment.yaml", "migration-job.yaml"):
        found[file] = {item["name"] for item in only_container(k8s(file)).get("env", [])}
    # The guide's settings table: the first cell of each row names one or more variables.
    rows = [line for line in (DEPLOY / "README.md").read_text().splitlines() if line[:3] == "| `"]
    found["README.md"] = {
        name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])
    }
    return found


def test_every_variable_in_deploy_is_one_the_app_reads() -> None:
    found = deploy_variables()
    assert found["README.md"] >= {"SLACK_SIGNING_SECRET", "DATABASE_URL", "SLACK_CLIENT_ID"}
    for file, names in found.items():
        unknown = names - APP_VARIABLES - RUNTIME_VARIABLES
        assert not unknown, f"{file} sets variables the app does not read: {sorted(unknown)}"


def test_the_settings_the_deploy_files_rely_on_are_fields_of_the_app() -> None:
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DATABASE_URL"):
        assert name.lower() in Settings.model_fields
    assert {"PORT", "CONTENT_DIR"} <= {name.upper() for name in Settings.model_fields}


# --- outside tools, when present -------------------------------------------------------------

MANIFESTS = ["deployment.yaml", "service.yaml", "migration-job.yaml", SECRET_EXAMPLE]


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


def test_docker_compose_accepts_the_file_and_requires_the_signing_secret() -> None:
    if not docker_compose_available():
        pytest.skip("`docker compose` is not available (no docker CLI or no compose plugin)")
    command = ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"]
    env = {k: v for k, v in os.environ.items() if k != "SLACK_SIGNING_SECRET"}
    ok = subprocess.run(command, env={**env, **USER_ENV}, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(command, env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "SLACK_SIGNING_SECRET" in missing.stderr


def test_kubectl_kustomize_builds_the_three_objects() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    objects = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Job", "Service"]


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
