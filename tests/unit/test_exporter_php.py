"""PHP-FPM status per site: recorded status output, the FastCGI client, a real php-fpm."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fixtures.exporter.fakes import HERE, SITES, make_config
from prometheus_client import CollectorRegistry

from koumbit_infra.exporter import fastcgi
from koumbit_infra.exporter.phpfpm import PhpFpmCollector, fetch_status

RECORDED = (HERE / "fpm-status-php8.2.json").read_bytes()  # from php-fpm 8.2, Debian 12


def labels(index: int) -> dict[str, str]:
    return {"server": "web1", "site": SITES[index][0], "client": SITES[index][2]}


def test_recorded_status_gives_each_site_its_figures(tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []

    def fetch(socket_path: str, status_path: str) -> bytes:
        asked.append((socket_path, status_path))
        if SITES[1][1] in socket_path:
            raise ConnectionRefusedError(111, "Connection refused")  # pool down
        return RECORDED.replace(b'"max children reached":0', b'"max children reached":7')

    collector = PhpFpmCollector(make_config(tmp_path), fetch=fetch)
    registry = CollectorRegistry()
    registry.register(collector)
    problems = collector.refresh()
    assert asked[0] == (f"{tmp_path}/run/php/{SITES[0][1]}.status.sock", "/fpm-status")
    assert len(problems) == 1 and "Connection refused" in problems[0]
    get = registry.get_sample_value
    assert get("koumbit_site_php_active_workers", labels(0)) == 1
    assert get("koumbit_site_php_listen_queue_requests", labels(0)) == 0
    assert get("koumbit_site_php_max_children_reached_total", labels(0)) == 7
    assert get("koumbit_site_php_active_workers", labels(1)) is None
    assert get("koumbit_site_php_active_workers", labels(2)) == 1


def test_fastcgi_response_parsing() -> None:
    body = b"Content-type: application/json\r\nStatus: 200 OK\r\n\r\n" + RECORDED
    stdout = fastcgi._record(fastcgi._STDOUT, body)
    end = fastcgi._record(fastcgi._END_REQUEST, b"\0" * 8)
    headers, got = fastcgi.parse_response(stdout + end)
    assert got == RECORDED and headers["content-type"] == "application/json"
    with pytest.raises(fastcgi.FastCgiError, match="before the end"):
        fastcgi.parse_response(stdout)


def test_long_params_use_four_byte_lengths() -> None:
    encoded = fastcgi.encode_params({"A": "x" * 200})
    assert encoded[:5] == bytes([1, 0x80, 0, 0, 200])


@pytest.mark.skipif(shutil.which("php-fpm8.2") is None, reason="php-fpm8.2 is not installed")
def test_real_php_fpm_status_listen_socket(tmp_path: Path) -> None:
    """The client against a real pool, through the pool's status_listen socket."""
    socket_path = tmp_path / "site.status.sock"
    user = "" if os.getuid() else "user = nobody\ngroup = nogroup\n"
    (tmp_path / "fpm.conf").write_text(
        f"[global]\nerror_log = {tmp_path}/error.log\npid = {tmp_path}/fpm.pid\n"
        f"daemonize = no\n[site]\n{user}listen = {tmp_path}/site.sock\n"
        "pm = static\npm.max_children = 2\npm.status_path = /fpm-status\n"
        f"pm.status_listen = {socket_path}\n"
    )
    fpm = subprocess.Popen(["php-fpm8.2", "-R", "-y", str(tmp_path / "fpm.conf")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if socket_path.exists():
                break
            time.sleep(0.05)
        body = fetch_status(str(socket_path), "/fpm-status")
    finally:
        fpm.terminate()
        fpm.wait(timeout=10)
    assert b'"pool":"site"' in body and b'"max children reached":0' in body


def test_missing_socket_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        fetch_status(str(tmp_path / "none.sock"), "/fpm-status")
