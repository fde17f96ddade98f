"""Backups proven on the backup side: each target restores its sites' newest snapshots
on a schedule, loads their databases into a throw-away MariaDB, checks its
repositories, and tells node_exporter (koumbit_infra/serverconf/backupverify.py).

Called by deploys/backups.py once the repositories and their wrapper exist.
Runnable alone: ``pyinfra inventory/lab.py deploys/backupverify.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import files, server, systemd

from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.operations import packages, services
from koumbit_infra.serverconf import backupverify as verify


@deploy("Backups: restores proven on the backup side")
def backup_verification() -> None:
    inv, srv = current()
    cfgs = verify.verify_files(inv, srv)
    if not cfgs:
        return
    # MariaDB's server and client without the package that holds its service:
    # no MariaDB ever runs on a backup server but the verification's own.
    need(packages.installed, name="Backup verification: restic, age, python3, MariaDB binaries",
         packages=list(verify.PACKAGES))
    need(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
        server.user,
        name=f"Backup verification: user {verify.VERIFY_USER} (the throw-away databases)",
        user=verify.VERIFY_USER,
        comment="koumbit backup verification (throw-away MariaDB)",
        home="/nonexistent",
        shell="/usr/sbin/nologin",
        system=True,
        ensure_home=False,
    )
    need(files.directory, name=f"Backup verification: scratch {verify.SCRATCH_ROOT}",
         path=verify.SCRATCH_ROOT, user="root", group="root", mode="711")
    changed = write_all(cfgs)
    need(services.units_loaded, name="Backup verification: systemd reload",
         units=[f"{verify.UNIT}.service", f"{verify.UNIT}.timer"], changes=ran(*changed))
    need(systemd.service, name="Backup verification: hourly timer",
         service=f"{verify.UNIT}.timer", running=True, enabled=True)


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(backup_verification)
