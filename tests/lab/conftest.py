"""The ``lab`` fixture: the lab environment's real servers, up for the whole session.

The lab is brought up once (or reused if already up: `up` is then a no-op
under a second) and left running afterwards, so the next session and the
people deploying to it find it ready. If it cannot come up, every lab test
FAILS with the reason: a broken lab must never pass as skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from koumbit_infra.envs import load_env
from koumbit_infra.lab import LabError, LabPaths, LabServer, LabStatus, lab_paths, lab_servers, up
from koumbit_infra.lab.ssh import remote


@dataclass(frozen=True)
class Lab:
    servers: tuple[LabServer, ...]
    paths: LabPaths
    status: LabStatus

    def server(self, name: str) -> LabServer:
        return next(s for s in self.servers if s.name == name)

    def run(self, name: str, command: str, timeout: float = 120) -> str:
        """``command`` on server ``name`` over SSH; its output, or a failed assertion."""
        done = remote(self.server(name), self.paths, command, timeout=timeout)
        assert done.returncode == 0, f"{name}: {command}\n{done.stdout}\n{done.stderr}"
        return done.stdout


def _progress(message: str) -> None:
    # Straight to the terminal: a cold start takes about a minute and should say why.
    print(f"lab: {message}", file=sys.__stderr__, flush=True)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (they boot containers); run them with sudo, "
                    "or deselect them with -m 'not lab'", pytrace=False)
    servers = lab_servers(load_env("lab").servers)
    try:
        status = up(servers, progress=_progress)
    except LabError as exc:
        pytest.fail(f"the lab did not come up:\n{exc.message}", pytrace=False)
    yield Lab(servers, lab_paths(), status)
