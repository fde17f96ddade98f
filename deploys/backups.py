"""Backups: restic (Debian's), one repository per server on the backup server,
reached over SFTP with a key of that server alone, jailed in its own tree.

Order matters across hosts, and pyinfra runs each operation on every host
before the next: a client first makes its key and password, the backup
server then authorises that key, and only then does the client initialise
its repository. Runnable alone: ``pyinfra inventory/lab.py deploys/backups.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host, inventory
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from koumbit_infra.converge import call, converge, need, ran
from koumbit_infra.deploykit import current, fact_of, write_all
from koumbit_infra.facts.backup import SshPublicKey
from koumbit_infra.inventory import Role
from koumbit_infra.operations import backup as restic
from koumbit_infra.operations import files as remote_files
from koumbit_infra.operations import packages, secrets, services, sync
from koumbit_infra.serverconf import backup
from koumbit_infra.serverconf.files import backup_files

KEY = f"{backup.CLIENT_DIR}/id_ed25519"
PASSWORD = f"{backup.CLIENT_DIR}/password"
WRAPPER = "/usr/local/sbin/koumbit-restic"
KEYS_DIR = "/etc/ssh/koumbit-backup-keys"
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


@deploy("Backups: client key and password")
def client_secrets() -> None:
    inv, srv = current()
    if backup.client_of(inv, srv) is None:
        return
    need(packages.installed, name="restic package", packages=["restic", "openssh-client"])
    for path, mode in (("/etc/koumbit", "755"), (backup.CLIENT_DIR, "700"),
                       ("/var/backups/koumbit", "700"), ("/var/cache/restic", "700")):
        need(files.directory, name=f"Backups: {path}", path=path, user="root", group="root",
             mode=mode)
    # Made on the server, never seen by the deploy machine nor git.
    need(secrets.ssh_key, name="Backups: this server's own SFTP key", path=KEY,
         comment=f"restic@{srv.name}")
    need(secrets.random_file, name="Backups: repository password (root only)", path=PASSWORD)


def _authorized_key(client_name: str) -> str | None:
    """``restrict``ed public key of a client, read from that client when the op runs
    (while preparing, once per deploy)."""
    if host.state.is_executing:
        key = inventory.get_host(client_name).get_fact(SshPublicKey, path=f"{KEY}.pub")
    else:
        key = fact_of(client_name, SshPublicKey, path=f"{KEY}.pub")
    return None if key is None else f"restrict {key} restic@{client_name}\n"


@deploy("Backups: repositories on the backup server")
def repositories() -> None:
    inv, srv = current()
    if not srv.has(Role.BACKUP):
        return
    clients = [c for c in backup.backup_clients(inv) if c.target.name == srv.name]
    for path in (backup.CHROOT_ROOT, KEYS_DIR):
        need(files.directory, name=f"Backups: {path}", path=path, user="root", group="root",
             mode="755")
    for client in host.loop(clients):
        need(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
            server.user,
            name=f"Backups: SFTP account {client.repo_user}",
            user=client.repo_user,
            comment=f"restic repository of {client.server.name}",
            home=client.chroot,
            shell="/usr/sbin/nologin",
            system=True,
            ensure_home=False,  # the chroot must stay owned by root
        )
        # sshd requires every component of a ChrootDirectory to be root's.
        need(files.directory, name=f"Backups: chroot of {client.server.name}",
             path=client.chroot, user="root", group="root", mode="755")
        need(files.directory, name=f"Backups: repository of {client.server.name}",
             path=f"{client.chroot}{backup.REPO_DIR_IN_CHROOT}",
             user=client.repo_user, group=client.repo_user, mode="700")
        # A client making its key in this very run has none yet: read it when the op runs.
        known = _authorized_key(client.server.name) is not None
        (need if known else call)(
            remote_files.from_callable,
            name=f"Backups: key of {client.server.name} authorised (SFTP only)",
            content=lambda name=client.server.name: _authorized_key(name),
            dest=f"{KEYS_DIR}/{client.repo_user}",
            mode="644",
        )


@deploy("Backups: client service, timer and repository")
def client_service() -> None:
    inv, srv = current()
    client = backup.client_of(inv, srv)
    if client is None:
        return
    host_key = fact_of(client.target.name, SshPublicKey, path=HOST_KEY)
    changed = write_all(backup_files(inv, srv, host_key or ""))
    need(services.units_loaded, name="Backups: systemd reload",
         units=["koumbit-backup.service", "koumbit-backup.timer"], changes=ran(*changed))
    need(systemd.service, name="Backups: daily timer", service="koumbit-backup.timer",
         running=True, enabled=True)
    # Asking restic costs most of a second (SFTP and the key): a repository whose
    # config file is on the backup server is initialised; otherwise restic decides.
    config = f"{client.chroot}{backup.REPO_DIR_IN_CHROOT}/config"
    if fact_of(client.target.name, File, path=config) is None:
        call(restic.repository_initialised, name="Backups: repository initialised",
             wrapper=WRAPPER)


@deploy("Backups")
def backups() -> None:
    client_secrets()
    # Cross-host steps: every host passes each barrier before any goes on.
    # Always called (they change nothing): which host has work here is known per host only.
    call(sync.barrier, name="Backups: every client key made", reason="client keys exist")
    repositories()
    call(sync.barrier, name="Backups: every key authorised", reason="backup server ready")
    client_service()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(backups)
