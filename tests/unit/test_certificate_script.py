"""``koumbit-certificate`` and certbot's deploy hook, run for real with fake paths: a
stand-in ``certbot`` that writes down each command line it gets (and acts as told), and
stand-in ``nginx`` and ``systemctl``. What certbot itself does is proven against Pebble
in tests/unit/test_acme_local.py; here, what the tools ask of it and do with its answers.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from koumbit_infra.serverconf.certificates import SEARCH_PATH, hook_context, script_context
from koumbit_infra.templating import render
from koumbit_infra.tls.certbot import HOOK, Acme, CertbotPaths

DIRECTORY = "https://10.77.0.1:14000/dir"
ACME = Acme(DIRECTORY, "infra@koumbit-lab.test")

# The stand-in certbot: each call's words, one a line, then a blank line, in $CALLS.
# certonly and renew act as $FAKE says: "ok" writes a certificate for the lineage
# (from $CERT), "fail" says why it cannot, "gone" answers accountDoesNotExist unless
# --account is given; register makes an account folder.
FAKE_CERTBOT = r"""#!/bin/sh
printf '%s\n' "$@" >> "$CALLS"; echo >> "$CALLS"
config=; name=; account=
for word do
    case $word in --config-dir=*) config=${word#--config-dir=} ;; esac
done
prev=
for word do
    [ "$prev" = --cert-name ] && name=$word
    [ "$prev" = --account ] && account=$word
    prev=$word
done
for word do
    case $word in
        register) mkdir -p "$ACCOUNTS/0123abcd"; echo "Account registered."; exit 0 ;;
        delete) rm -rf "$config/live/$name" "$config/renewal/$name.conf"; exit 0 ;;
        certonly|renew) break ;;
    esac
done
case $FAKE in
    gone) if [ -z "$account" ]; then
              echo "urn:ietf:params:acme:error:accountDoesNotExist :: Account not found."
              exit 1
          fi ;;
    fail) echo "Some challenges have failed."; echo "  Detail: could not resolve URL"; exit 1 ;;
    quiet) exit 0 ;;
esac
[ -n "$name" ] || exit 0
mkdir -p "$config/live/$name" "$config/renewal"
cp "$CERT" "$config/live/$name/cert.pem"
cp "$CERT" "$config/live/$name/fullchain.pem"
echo key > "$config/live/$name/privkey.pem"
touch "$config/renewal/$name.conf"
echo "Successfully received certificate."
"""

FAKE_NGINX = """#!/bin/sh
echo "nginx $*" >> "$CALLS"
[ "$NGINX_T" = ok ]
"""
FAKE_SYSTEMCTL = """#!/bin/sh
echo "systemctl $*" >> "$CALLS"
"""


def certificate(days: float) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "a.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Tools:
    root: Path
    paths: CertbotPaths
    script: Path
    hook: Path
    calls: Path
    cert: Path

    def run(self, *args: str, fake: str = "ok", env: dict[str, str] | None = None,
            tool: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tool or self.script), *args], capture_output=True,
                              text=True, check=False, timeout=60,
                              env={**os.environ, "CALLS": str(self.calls), "CERT": str(self.cert),
                                   "FAKE": fake, "ACCOUNTS": ACME.accounts_dir(self.paths),
                                   **(env or {})})

    def calls_made(self) -> list[list[str]]:
        if not self.calls.exists():
            return []
        return [block.splitlines() for block in self.calls.read_text().split("\n\n")
                if block.strip()]

    def metrics(self) -> dict[tuple[str, str], float]:
        text = Path(self.paths.textfile).read_text()
        return {(s.name, s.labels.get("site", "")): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    if shutil.which("openssl") is None or shutil.which("flock") is None:
        pytest.skip("openssl and flock (util-linux) are needed")
    paths = CertbotPaths.under(str(tmp_path))
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, body in (("certbot", FAKE_CERTBOT), ("nginx", FAKE_NGINX),
                       ("systemctl", FAKE_SYSTEMCTL)):
        (fake / name).write_text(body)
        (fake / name).chmod(0o755)
    search = f"{fake}:{SEARCH_PATH}"
    script = tmp_path / "koumbit-certificate"
    script.write_text(render("usr/local/sbin/koumbit-certificate.j2",
                             **script_context(ACME, "web1", paths, search_path=search)))
    script.chmod(0o755)
    hook = tmp_path / "koumbit-reload-nginx"
    hook.write_text(render(f"{HOOK.lstrip('/')}.j2",
                           **hook_context(str(script), paths, search_path=search)))
    hook.chmod(0o755)
    cert = tmp_path / "cert.pem"
    cert.write_bytes(certificate(90))
    return Tools(tmp_path, paths, script, hook, tmp_path / "calls", cert)


def test_issue_asks_certbot_for_exactly_the_sites_domains(tools: Tools) -> None:
    done = tools.run("issue", "site_a", "a.test", "www.a.test")
    assert done.returncode == 0, done.stderr
    assert tools.calls_made() == [[
        f"--config-dir={tools.paths.config_dir}", f"--work-dir={tools.paths.work_dir}",
        f"--logs-dir={tools.paths.logs_dir}",
        "certonly", "--non-interactive", "--agree-tos", "--email=infra@koumbit-lab.test",
        "--webroot", "-w", tools.paths.webroot, f"--server={DIRECTORY}",
        "--keep-until-expiring", "--cert-name", "site_a", "-d", "a.test", "-d", "www.a.test"]]
    live = Path(tools.paths.config_dir) / "live" / "site_a"
    for pem in ("fullchain.pem", "privkey.pem"):
        assert (Path(tools.paths.tls_root) / "site_a" / pem).readlink() == live / pem
    assert tools.metrics()["koumbit_certificate_renewal_failed", "a.test"] == 0
    assert tools.metrics()["koumbit_certificate_expiry_timestamp_seconds", "a.test"] == (
        x509.load_pem_x509_certificate(tools.cert.read_bytes()).not_valid_after_utc.timestamp())


@pytest.mark.parametrize("words", [
    ["site_a", "a.test; id"], ["site_a", "$(id).test"], ["site_a", "-d"],
    ["site_a", "--server=https://evil.test/dir"], ["site_a", "A.TEST"], ["site_a", "a..test"],
    ["site_a", ""], ["site;a", "a.test"], ["-rf", "a.test"], ["site_a"], [],
])
def test_hostile_words_never_reach_certbot(tools: Tools, words: list[str]) -> None:
    done = tools.run("issue", *words)
    assert done.returncode == 2, done.stderr
    assert tools.calls_made() == []
    assert not Path(tools.paths.state_dir, "site_a").exists()


def test_a_failed_issuance_names_the_site_keeps_nginx_loadable_and_shows(tools: Tools) -> None:
    done = tools.run("issue", "site_a", "a.test", fake="fail")
    assert done.returncode == 1
    assert done.stderr.startswith(
        f"koumbit-certificate: a.test: no certificate from {DIRECTORY}; certbot's last lines:")
    assert "could not resolve URL" in done.stderr
    assert tools.metrics()["koumbit_certificate_renewal_failed", "a.test"] == 1
    # A placeholder, so nginx -t still passes with the site's vhost: it names no domain.
    folder = Path(tools.paths.tls_root) / "site_a"
    placeholder = x509.load_pem_x509_certificate((folder / "fullchain.pem").read_bytes())
    with pytest.raises(x509.ExtensionNotFound):
        placeholder.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert oct((folder / "privkey.pem").stat().st_mode & 0o777) == "0o600"
    # The next try succeeds: the failure is cleared, the placeholder replaced.
    assert tools.run("issue", "site_a", "a.test").returncode == 0
    assert tools.metrics()["koumbit_certificate_renewal_failed", "a.test"] == 0
    assert (folder / "fullchain.pem").is_symlink()


def test_an_account_the_acme_server_forgot_is_registered_anew(tools: Tools) -> None:
    stale = Path(ACME.accounts_dir(tools.paths)) / "stale"
    stale.mkdir(parents=True)
    done = tools.run("issue", "site_a", "a.test", fake="gone")
    assert done.returncode == 0, done.stderr
    assert "does not know this server's account: registering a new one" in done.stderr
    first, register, again = tools.calls_made()
    assert first[3] == "certonly" and register[3] == "register"
    assert register[4:] == ["--non-interactive", "--agree-tos", "--email=infra@koumbit-lab.test",
                            f"--server={DIRECTORY}"]
    assert again == [*first, "--account", "0123abcd"]
    assert not stale.exists()


def test_renew_marks_a_due_certificate_certbot_did_not_renew(tools: Tools) -> None:
    assert tools.run("issue", "site_a", "a.test").returncode == 0
    tools.cert.write_bytes(certificate(10))  # within the 30 days certbot renews in
    assert tools.run("issue", "site_b", "b.test").returncode == 0
    done = tools.run("renew", fake="quiet")  # certbot renewed nothing
    assert done.returncode == 0
    assert "b.test: its certificate was due and is not renewed" in done.stderr
    found = tools.metrics()
    assert found["koumbit_certificate_renewal_failed", "b.test"] == 1
    assert found["koumbit_certificate_renewal_failed", "a.test"] == 0
    assert found["koumbit_certificate_renewal_last_run_timestamp_seconds", ""] > 0
    assert tools.calls_made()[-1][3:] == ["renew", "--no-random-sleep-on-renew"]


def test_the_hook_records_the_renewal_and_reloads_nginx_after_its_check(tools: Tools) -> None:
    assert tools.run("issue", "site_a", "a.test", fake="fail").returncode == 1
    tools.run("issue", "site_a", "a.test")  # certbot renews: the hook follows
    tools.calls.unlink()
    live = str(Path(tools.paths.config_dir) / "live" / "site_a")
    done = tools.run(tool=tools.hook, env={"RENEWED_LINEAGE": live, "NGINX_T": "ok"})
    assert done.returncode == 0, done.stderr
    assert tools.calls.read_text().splitlines() == ["nginx -t -q", "systemctl reload nginx"]
    assert Path(tools.paths.nginx_stamp).exists()
    assert tools.metrics()["koumbit_certificate_renewal_failed", "a.test"] == 0


def test_the_hook_does_not_reload_a_configuration_nginx_refuses(tools: Tools) -> None:
    assert tools.run("issue", "site_a", "a.test").returncode == 0
    tools.calls.unlink()
    live = str(Path(tools.paths.config_dir) / "live" / "site_a")
    done = tools.run(tool=tools.hook, env={"RENEWED_LINEAGE": live, "NGINX_T": "refused"})
    assert done.returncode == 1
    assert "nginx -t refuses the configuration" in done.stderr
    assert tools.calls.read_text().splitlines() == ["nginx -t -q"]
    # No stamp: the next deploy sees a certificate newer than nginx's last reload.
    assert not Path(tools.paths.nginx_stamp).exists()


def test_metrics_never_print_a_label_the_state_was_made_to_hold(tools: Tools) -> None:
    assert tools.run("issue", "site_a", "a.test").returncode == 0
    planted = Path(tools.paths.state_dir) / "evil"
    planted.mkdir()
    (planted / "site").write_text('x"} 1\nkoumbit_pwned{a="b\n')
    (planted / "expiry").write_text("1\n")
    assert tools.run("metrics").returncode == 0
    text = Path(tools.paths.textfile).read_text()
    assert "pwned" not in text and 'site="a.test"' in text
    assert oct(Path(tools.paths.textfile).stat().st_mode & 0o777) == "0o644"


def test_forget_deletes_the_lineage_and_its_metrics(tools: Tools) -> None:
    assert tools.run("issue", "site_a", "a.test").returncode == 0
    done = tools.run("forget", "site_a")
    assert done.returncode == 0, done.stderr
    assert tools.calls_made()[-1][3:] == ["delete", "--non-interactive", "--cert-name", "site_a"]
    assert not Path(tools.paths.state_dir, "site_a").exists()
    assert ("koumbit_certificate_renewal_failed", "a.test") not in tools.metrics()
