"""Production's WordPress mirror, against a stand-in wordpress.org served over HTTPS on this
machine's loopback: releases are published only once they match wordpress.org's SHA-1, and
releases.json follows wordpress.org's word on which releases are insecure."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from koumbit_infra.cli import main
from koumbit_infra.codebases.wordpress_mirror import MirrorError, mirror
from koumbit_infra.lab.localacme import free_ports
from koumbit_infra.lab.localcode import rig_ca
from koumbit_infra.lab.pebble import sign_server_certificate
from koumbit_infra.lab.sources import base_url, server

STATUS = {"6.7.1": "insecure", "6.7.4": "outdated", "6.8.2": "insecure", "6.8.3": "latest"}


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[tuple[str, Path, ssl.SSLContext]]:
    """A stand-in wordpress.org: releases, their .sha1, and the stable-check answer."""
    ca = rig_ca(tmp_path)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    sign_server_certificate(ca, "test", ["127.0.0.1"], key_path=key, cert_path=cert,
                            group=os.getegid())
    www = tmp_path / "www"
    (www / "api").mkdir(parents=True)
    (www / "api" / "index.html").write_text(json.dumps(STATUS))
    for version in STATUS:
        data = f"release {version}".encode()
        (www / f"wordpress-{version}.tar.gz").write_bytes(data)
        (www / f"wordpress-{version}.tar.gz.sha1").write_text(hashlib.sha1(data).hexdigest())
    address = ("127.0.0.1", free_ports(1)[0])
    httpd = server(www, address, cert, key)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield base_url(address), www, ssl.create_default_context(cafile=str(ca.api_ca))
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_latest_release_is_mirrored_by_default(
        origin: tuple[str, Path, ssl.SSLContext], tmp_path: Path) -> None:
    url, _, context = origin
    out = tmp_path / "mirror"
    written = mirror(out, (), url, f"{url}/api/", context)
    assert written == ["wordpress-6.8.3.tar.gz", "wordpress-6.8.3.tar.gz.sha256", "releases.json"]
    digest = hashlib.sha256(b"release 6.8.3").hexdigest()
    assert (out / "wordpress-6.8.3.tar.gz.sha256").read_text() == (
        f"{digest}  wordpress-6.8.3.tar.gz\n")
    assert mirror(out, (), url, f"{url}/api/", context) == []  # nothing new


def test_a_branch_whose_newest_mirrored_release_is_insecure_gets_no_security_release(
        origin: tuple[str, Path, ssl.SSLContext], tmp_path: Path) -> None:
    url, _, context = origin
    out = tmp_path / "mirror"
    mirror(out, ("6.7.1", "6.7.4", "6.8.2"), url, f"{url}/api/", context)
    assert json.loads((out / "releases.json").read_text()) == {
        "latest": "6.8.2", "security": {"6.7": "6.7.4"}, "versions": ["6.7.1", "6.7.4", "6.8.2"]}


def test_a_release_that_does_not_match_wordpress_org_s_sha1_is_not_published(
        origin: tuple[str, Path, ssl.SSLContext], tmp_path: Path) -> None:
    url, www, context = origin
    (www / "wordpress-6.8.3.tar.gz").write_bytes(b"tampered")
    out = tmp_path / "mirror"
    with pytest.raises(MirrorError, match=r"does not match the SHA-1 wordpress\.org publishes"):
        mirror(out, ("6.7.4", "6.8.3"), url, f"{url}/api/", context)
    assert not out.exists()  # 6.7.4 matched, but nothing is published when one fails


@pytest.mark.parametrize(("args", "message"), [
    (["6.8.3;id"], "is not a WordPress version"),
    (["9.9.9"], "wordpress.org knows no WordPress 9.9.9"),
    (["--from", "http://wordpress.org"], "https only"),
])
def test_bad_versions_and_plain_http_exit_2(origin: tuple[str, Path, ssl.SSLContext],
                                            tmp_path: Path, args: list[str],
                                            message: str) -> None:
    url, _, _ = origin
    ca = tmp_path / "ca" / "api-ca.pem"  # the stand-in's CA, as a system store would hold it
    done = CliRunner(env={"SSL_CERT_FILE": str(ca)}).invoke(
        main, ["codebases", "wordpress-mirror", str(tmp_path / "m"), *args, "--api",
               f"{url}/api/"])
    assert done.exit_code == 2, done.output
    assert message in done.output
    assert not (tmp_path / "m").exists()
