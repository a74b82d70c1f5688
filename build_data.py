"""Build step (setuptools `build_py`): ship the exercise library and the Slack app manifest
inside the package, so a wheel, `pip install .` or `pipx install` runs with no checkout.

They stay authored in one place each, `content/` and `deploy/manifest.yaml`; the build copies
them to the paths in SHIPPED, so there is no second copy to keep in step. An editable install
has no copy and reads the checkout's files instead (`bot/core/content.py` and `bot/cli.py` look
for the packaged copy first).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Source in the checkout -> destination inside the built package.
SHIPPED = {
    "content": "bot/content_data",
    "deploy/manifest.yaml": "bot/manifest.yaml",
}


class BuildPy(build_py):
    """`build_py`, plus a copy of `content/` and the app manifest into the build."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        for source, destination in SHIPPED.items():
            origin, target = ROOT / source, Path(self.build_lib) / destination
            if not origin.exists():
                raise FileNotFoundError(f"{origin}: needed in the package, and not found")
            if origin.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("*.pyc", ".*"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        for source, destination in SHIPPED.items():
            origin = ROOT / source
            files = [p for p in origin.rglob("*") if p.is_file()] if origin.is_dir() else [origin]
            for path in files:
                relative = path.relative_to(origin) if origin.is_dir() else Path()
                outputs.append(str(Path(self.build_lib) / destination / relative))
        return outputs
