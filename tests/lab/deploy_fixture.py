"""The ``deployed`` fixture: the whole lab converged by `koumbit-infra deploy`, once per session.

Use it from any lab test module (sites, exporter ...) with::

    from deploy_fixture import Deployment, deployed  # noqa: F401  (the fixture)

Session-scoped fixtures imported into several modules are defined once per
module by pytest, so the result is also cached here: the lab is deployed
exactly once per session, whichever module asks first. The fixture runs the
deploy twice and keeps pyinfra's JSON results of both runs: the second one
is the idempotence proof.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))


@dataclass(frozen=True)
class Run:
    returncode: int
    seconds: float
    results: dict[str, Any]
    stderr: str

    def changed(self) -> list[str]:
        """``op name: hosts`` for every operation that changed something."""
        ops = self.results.get("results", {}).get("operations", [])
        return [f"{op['name']}: {', '.join(op['success'])}" for op in ops if op["success"]]

    def errors(self) -> list[str]:
        ops = self.results.get("results", {}).get("operations", [])
        return [f"{op['name']}: {', '.join(op['error'])}" for op in ops if op["error"]]


@dataclass(frozen=True)
class Deployment:
    first: Run
    second: Run


def deploy_lab(*extra: str) -> Run:
    """`koumbit-infra deploy --env lab --json`, timed, with pyinfra's results parsed."""
    start = time.monotonic()
    done = subprocess.run([CLI, "deploy", "--env", "lab", "--json", *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.monotonic() - start
    try:
        results = json.loads(done.stdout) if done.stdout.strip() else {}
    except json.JSONDecodeError:
        results = {}
    return Run(done.returncode, seconds, results, done.stderr[-20000:])


_CACHE: dict[str, Deployment] = {}


@pytest.fixture(scope="session")
def deployed(lab: Any) -> Deployment:
    if "lab" not in _CACHE:
        first = deploy_lab()
        if first.returncode != 0:
            pytest.fail(f"the lab deploy failed (exit {first.returncode}):\n{first.stderr}",
                        pytrace=False)
        _CACHE["lab"] = Deployment(first, deploy_lab())
    return _CACHE["lab"]
