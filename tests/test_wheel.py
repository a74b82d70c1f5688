"""The wheel is the product: built from the sdist, installed into a fresh virtual
environment, and run from a folder outside the checkout, it has its exercise library and
its manifest, and `run` serves.

One build and one install for the module (marked `wheel`; `pytest -m "not wheel"` leaves it
out). The dependencies come from the package index as pip finds them (its cache makes a
second run quick); the project itself only from the wheel built here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from bot.settings import Settings
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = {name.upper() for name in Settings.model_fields}


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result


class Installed:
    def __init__(self, venv: Path, elsewhere: Path) -> None:
        self.venv, self.elsewhere = venv, elsewhere
        self.script = venv / "bin" / "psoas-bot"

    def env(self, **settings: str) -> dict[str, str]:
        """No checkout on the path, none of the bot's settings unless given."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k.upper() not in SETTINGS and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **settings}

    def psoas(self, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.script), *args],
            cwd=self.elsewhere,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("wheel")
    dist, wheels = base / "dist", base / "wheels"
    # The sdist first, as `python -m build` does: what MANIFEST.in ships must be enough.
    run(
        [
            sys.executable,
            "-W",
            "ignore",
            "-c",
            "from setuptools import setup; setup()",
            "egg_info",
            "--egg-base",
            str(base),
            "sdist",
            "--dist-dir",
            str(dist),
        ],
        cwd=ROOT,
    )
    (sdist,) = dist.glob("psoas_bot-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(name.endswith("content/exercises/half-kneel.yaml") for name in names)
    assert any(name.endswith("deploy/manifest.yaml") for name in names)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # This environment's setuptools (the test extra asks for one new enough): no download.
    run([*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(sdist)])
    (wheel,) = wheels.glob("psoas_bot-*.whl")
    venv = base / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    # psoas-bot from the wheel only; its dependencies from the index. No [postgres] extra.
    run(
        [*pip, "--python", str(python), "install", "-q", "--find-links", str(wheels), str(wheel)],
        cwd=base,
    )
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return Installed(venv, elsewhere)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed: Installed) -> None:
    result = run(
        [str(installed.venv / "bin" / "python"), "-c", "import bot; print(bot.__file__)"],
        cwd=installed.elsewhere,
        env=installed.env(),
    )
    location = Path(result.stdout.strip())
    assert installed.venv in location.parents and ROOT not in location.parents
    assert installed.psoas("--version").stdout.strip() == "psoas-bot 0.1.0"


def test_content_check_finds_the_packaged_library(installed: Installed) -> None:
    result = installed.psoas("content", "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("content OK: 5 exercises (")


def test_manifest_json_is_the_manifest(installed: Installed) -> None:
    result = installed.psoas("manifest", "--json")
    assert result.returncode == 0, result.stderr
    expected = yaml.safe_load((ROOT / "deploy" / "manifest.yaml").read_text())
    assert json.loads(result.stdout) == expected


def test_postgresql_without_the_extra_names_it(installed: Installed) -> None:
    result = installed.psoas("migrate", DATABASE_URL="postgresql+psycopg://psoas@127.0.0.1:1/x")
    assert result.returncode == 2
    assert "pip install 'psoas-bot[postgres]'" in result.stderr


def test_run_serves_from_a_folder_outside_the_checkout(installed: Installed) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = probe.getsockname()[1]
    output = installed.elsewhere / "run.log"
    env = installed.env(
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=f"http://127.0.0.1:{nowhere}/api/",
        PORT=str(port),
        LOG_FORMAT="text",
    )
    with output.open("w") as sink:
        process = subprocess.Popen(
            [str(installed.script), "run", "--host", "127.0.0.1"],
            cwd=installed.elsewhere,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert process.poll() is None, output.read_text()
                assert time.monotonic() < deadline, output.read_text()
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert code == 0, output.read_text()
    # The default SQLite file, in the folder it was started from.
    assert (installed.elsewhere / "psoas-bot.db").is_file()
