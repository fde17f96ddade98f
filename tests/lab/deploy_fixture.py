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
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("koumbit-infra"))


def lab_trust() -> str:
    """The CAs the lab's sites are checked against: the lab inventory's acme_ca_bundle (the
    API's CA and Pebble's roots, written by `lab up`), which the servers trust too."""
    from koumbit_infra.envs import load_env

    bundle = load_env("lab").settings.acme_ca_bundle
    assert bundle is not None, "the lab inventory names no acme_ca_bundle"
    return bundle


@dataclass(frozen=True)
class Run:
    """One pyinfra run with --json: exit code, wall time, parsed results, what it printed."""

    returncode: int
    seconds: float
    results: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def _operations(self) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = self.results.get("results", {}).get("operations", [])
        return ops

    def changed(self) -> list[str]:
        """``op name: hosts`` for every operation that changed something."""
        return [f"{op['name']}: {', '.join(op['success'])}" for op in self._operations()
                if op["success"]]

    def changed_operations(self) -> list[str]:
        """The names of the operations that changed something, on any host."""
        return [op["name"] for op in self._operations() if op["success"]]

    def errors(self) -> list[str]:
        """``op name: hosts`` for every operation that failed. pyinfra prints no JSON when
        a failure leaves no host to go on with: its progress lines say which one stopped."""
        if self.results:
            return [f"{op['name']}: {', '.join(op['error'])}" for op in self._operations()
                    if op["error"]]
        found: dict[str, list[str]] = {}
        operation = None
        for line in self.output.splitlines():
            started = re.match(r"--> Starting operation: (.+?)\s*$", line)
            if started:
                operation = started[1]
            failed = re.match(r"\s+\[(\S+)\]\s+Error: ", line)
            if failed and operation is not None:
                found.setdefault(operation, []).append(failed[1])
        return [f"{name}: {', '.join(hosts)}" for name, hosts in found.items()]


def timed_json(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> Run:
    """Run a pyinfra command line ending in ``--json`` from the checkout, timed."""
    start = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)
    seconds = time.monotonic() - start
    try:
        results = json.loads(done.stdout) if done.stdout.strip() else {}
    except json.JSONDecodeError:
        results = {}
    return Run(done.returncode, seconds, results, done.stdout, done.stderr)


@dataclass(frozen=True)
class Deployment:
    first: Run
    second: Run


def deploy_lab(*extra: str) -> Run:
    """`koumbit-infra deploy --env lab --json`, timed, with pyinfra's results parsed."""
    return timed_json([CLI, "deploy", "--env", "lab", "--json", *extra], timeout=1800)


_CACHE: dict[str, Deployment] = {}


@pytest.fixture(scope="session")
def deployed(lab: Any) -> Deployment:
    if "lab" not in _CACHE:
        first = deploy_lab()
        if first.returncode != 0:
            pytest.fail(f"the lab deploy failed (exit {first.returncode}); failed:"
                        f" {first.errors()}\n{first.stderr[-20000:]}",
                        pytrace=False)
        _CACHE["lab"] = Deployment(first, deploy_lab())
    return _CACHE["lab"]
