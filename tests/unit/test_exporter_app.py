"""The whole exporter: exposition, promtool, isolation of failures, HTTP, unit and log format."""

from __future__ import annotations

import gc
import gzip
import shutil
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import jinja2
import pytest
from fixtures.exporter.fakes import SITES, make_config, users, write_process
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from koumbit_infra.exporter.app import Exporter, Seams, build
from koumbit_infra.exporter.database import DatabaseError
from koumbit_infra.monitoring.exporter import NGINX_LOG_FORMAT_TEMPLATE, TEMPLATE, ExporterUnit

TEMPLATES = Path(__file__).parents[2] / "templates"
ALPHA = {"server": "web1", "site": SITES[0][0], "client": SITES[0][2]}


def fixture_exporter(tmp_path: Path, database_up: bool = True) -> Exporter:
    for _, name, *_rest in SITES:
        (tmp_path / "srv/sites" / name / "web").mkdir(parents=True)
        (tmp_path / "srv/sites" / name / "web/index.php").write_text("<?php")
    logs = tmp_path / "var/log/nginx/sites"
    logs.mkdir(parents=True)
    (logs / f"{SITES[0][1]}.access.log").write_text(
        '{"time":"t","host":"h","status":200,"bytes_sent":512,"request_time":0.1,'
        '"upstream_response_time":"0.1"}\n')
    write_process(tmp_path / "proc", 10, 1001, 100, 100, 1)

    def query() -> str:
        if not database_up:
            raise DatabaseError("Can't connect to local server through socket")
        return f"{SITES[0][1]}\t4096\n"

    seams = Seams(users=users, php_status=lambda s, p: (
        b'{"active processes":2,"listen queue":0,"max children reached":1}'),
        database_query=query)
    return build(make_config(tmp_path), seams)


def run_all(exporter: Exporter) -> None:
    for job in exporter.jobs:
        job.run_once()


def test_every_collector_through_one_registry(tmp_path: Path) -> None:
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    get = exporter.registry().get_sample_value
    assert get("koumbit_up", {"server": "web1"}) == 1
    assert get("koumbit_site_disk_bytes", ALPHA) is not None
    assert get("koumbit_site_database_bytes", ALPHA) == 4096
    assert get("koumbit_site_cpu_seconds_total", ALPHA) == 2.0
    assert get("koumbit_site_http_sent_bytes_total", ALPHA) == 512
    assert get("koumbit_site_php_active_workers", ALPHA) == 2
    assert get("koumbit_site_info", {**ALPHA, "cms": "wordpress", "plan": "standard",
                                     "solidarity": "false"}) == 1
    assert get("koumbit_server_sites", {"server": "web1"}) == 3
    for name in ("disk", "cpu", "traffic", "php", "database"):
        key = {"server": "web1", "collector": name}
        assert get("koumbit_collector_success", key) == 1, name
        assert get("koumbit_collector_last_success_timestamp_seconds", key) is not None


def test_database_down_fails_only_its_collector(tmp_path: Path) -> None:
    exporter = fixture_exporter(tmp_path, database_up=False)
    run_all(exporter)
    get = exporter.registry().get_sample_value
    assert get("koumbit_collector_success", {"server": "web1", "collector": "database"}) == 0
    assert get("koumbit_collector_errors", {"server": "web1", "collector": "database"}) == 1
    assert get("koumbit_collector_last_success_timestamp_seconds",
               {"server": "web1", "collector": "database"}) is None
    assert get("koumbit_collector_success", {"server": "web1", "collector": "disk"}) == 1
    assert get("koumbit_site_database_bytes", ALPHA) is None
    assert get("koumbit_site_disk_bytes", ALPHA) is not None


def test_served_page_is_what_the_collectors_yield(tmp_path: Path) -> None:
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    served = exporter.exposition.body(gzipped=False)
    assert served == generate_latest(exporter.registry())
    assert gzip.decompress(exporter.exposition.body(gzipped=True)) == served


def test_names_follow_the_conventions(tmp_path: Path) -> None:
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    text = exporter.exposition.body(gzipped=False).decode()
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("koumbit_")
        for sample in family.samples:
            assert sample.name.endswith("_total") == (family.type == "counter"), sample.name
            assert not {"env", "environment"} & set(sample.labels)


def test_promtool_check_metrics(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus): metrics not linted")
    exporter = fixture_exporter(tmp_path)
    before = subprocess.run([promtool, "check", "metrics"], input=exporter.exposition.body(False),
                            capture_output=True, check=False)
    run_all(exporter)
    after = subprocess.run([promtool, "check", "metrics"], input=exporter.exposition.body(False),
                           capture_output=True, check=False)
    assert before.returncode == 0, before.stdout + before.stderr  # before any refresh too
    assert after.returncode == 0, after.stdout + after.stderr
    assert after.stdout + after.stderr == b""  # no lint warnings either


def test_http_server_answers_plain_and_gzip(tmp_path: Path) -> None:
    config = replace(make_config(tmp_path), port=0)  # any free port
    exporter = build(config, Seams(users=users))
    exporter.start()
    assert gc.get_freeze_count() > 0  # what lives as long as the process: out of gc's walks
    try:
        url = f"http://127.0.0.1:{exporter.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as answer:
            plain = answer.read()
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.headers["Content-Encoding"] == "gzip"
            zipped = gzip.decompress(answer.read())
        assert b"koumbit_up" in plain and b"koumbit_up" in zipped
        # Nagle held the body's last segment until the scraper's delayed ACK:
        # 10 ms added to 3 % of scrapes.
        assert exporter._server is not None
        assert exporter._server.RequestHandlerClass.disable_nagle_algorithm  # type: ignore[attr-defined]
    finally:
        exporter.stop()


def render(template: Path, **values: object) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined, autoescape=False)
    return env.get_template(str(template)).render(**values)


def test_unit_template_renders_and_verifies(tmp_path: Path) -> None:
    unit = render(TEMPLATE, exporter=ExporterUnit(executable="/usr/bin/true",
                                                  allowed_scrapers=("10.77.0.31",)))
    assert "ExecStart=/usr/bin/true exporter --config /etc/koumbit/exporter.toml" in unit
    assert "LoadCredential=mariadb.cnf:/etc/koumbit/exporter-mariadb.cnf" in unit
    assert "IPAddressAllow=localhost 10.77.0.31" in unit
    no_db = render(TEMPLATE, exporter=ExporterUnit(database_defaults=None))
    assert "LoadCredential" not in no_db and "IPAddressDeny" not in no_db
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: unit not verified")
    path = tmp_path / "koumbit-exporter.service"
    path.write_text(unit)
    verify = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr
    security = subprocess.run([analyze, "security", "--offline=true", "--threshold=25",
                               str(path)], capture_output=True, text=True, check=False)
    assert security.returncode == 0, security.stdout[-300:]


def test_nginx_accepts_the_log_format(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or (shutil.which("nginx", path="/usr/sbin"))
    if nginx is None:
        pytest.skip("nginx is not installed: log_format not checked")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n{render(NGINX_LOG_FORMAT_TEMPLATE)}\n"
        f"access_log {tmp_path}/site.access.log koumbit_json;\n}}\n"
    )
    check = subprocess.run([nginx, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_families_rendered_in_parts_are_the_whole_families(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of 2 samples: every family of more than 2 is split, the text is the same."""
    from koumbit_infra.exporter import exposition

    monkeypatch.setattr(exposition, "RENDER_PART", 2)
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    for job in exporter.jobs:
        parts = [family.name for family in job.measurement.collect(limit=2)]
        whole = [family.name for family in job.measurement.collect()]
        assert len(parts) >= len(whole) and len(whole) == len(set(whole)), job.name
    traffic = [f.name for f in exporter.jobs[2].measurement.collect(limit=2)]
    assert traffic.count("koumbit_site_http_requests") == 3  # 5 classes of 1 site: 2 + 2 + 1
    served = exporter.exposition.body(gzipped=False)
    assert served == generate_latest(exporter.registry())
    assert served.count(b"# TYPE koumbit_site_http_requests_total counter\n") == 1
    assert served.count(b"# HELP koumbit_site_info ") == 1


def test_sites_are_compact_and_share_their_labels(tmp_path: Path) -> None:
    exporter = fixture_exporter(tmp_path)
    run_all(exporter)
    site = exporter.config.local_sites[0]
    assert not hasattr(site, "__dict__")  # slots: no dict per site
    assert site.labels == ("web1", SITES[0][0], SITES[0][2])
    other = exporter.config.local_sites[1]
    assert site.server is other.server and site.cms is other.cms  # one string for all sites
    for job in exporter.jobs:
        keys = getattr(job.measurement, "snapshot", {})
        if isinstance(keys, dict) and site.labels in keys:
            assert next(k for k in keys if k == site.labels) is site.labels, job.name
    get = exporter.registry().get_sample_value
    assert get("koumbit_site_disk_quota_bytes", ALPHA) == 10 * 1024**3
    assert get("koumbit_site_php_max_workers", {**ALPHA, "site": SITES[2][0],
                                                "client": SITES[2][2]}) == 10


def test_malloc_is_told_to_give_memory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    from koumbit_infra.exporter.memory import tune_malloc

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: the exporter leaves malloc as it is")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the admin's choice wins
    assert tune_malloc() == ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"]


def test_served_self_metrics_follow_each_refresh(tmp_path: Path) -> None:
    """Rendered when a job ends, not per scrape: the page shows each job's last run."""
    exporter = fixture_exporter(tmp_path)
    line = b'koumbit_collector_success{collector="traffic",server="web1"} '
    assert line + b"0.0\n" in exporter.exposition.body(gzipped=False)
    exporter.jobs[2].run_once()
    assert exporter.jobs[2].name == "traffic"
    assert line + b"1.0\n" in exporter.exposition.body(gzipped=False)
