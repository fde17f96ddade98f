"""Backups: restic (Debian's), one repository per server on every backup server,
written through ``rclone serve restic --append-only`` behind a forced SSH command, so
a server (even its root) can add snapshots but never delete, prune nor overwrite
them. Retention and pruning run on the backup servers, with their own copy of
each repository password, encrypted to their SSH host key; the same password is
escrowed, encrypted to the Infra admins' SSH keys, on every backup server.

Order matters across hosts, and pyinfra runs each operation on every host
before the next: a client first makes its key, password and the age copies of
it, each backup server then authorises that key and takes the copies, and only
then does the client initialise its repositories. Runnable alone:
``pyinfra inventory/lab.py deploys/backups.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host, inventory
from pyinfra.facts.files import File
from pyinfra.operations import files, server, systemd

from deploys.backupverify import backup_verification
from koumbit_infra.converge import call, converge, need, ran
from koumbit_infra.deploykit import current, fact_of, write_all
from koumbit_infra.facts.backup import AgeFile, SshPublicKey
from koumbit_infra.inventory import Role
from koumbit_infra.operations import backup as restic
from koumbit_infra.operations import files as remote_files
from koumbit_infra.operations import packages, secrets, services, sync
from koumbit_infra.serverconf import backup
from koumbit_infra.serverconf.files import backup_files, backup_seal_files, backup_target_files

KEY = f"{backup.CLIENT_DIR}/id_ed25519"
WRAPPER = "/usr/local/sbin/koumbit-restic"
KEYS_DIR = "/etc/ssh/koumbit-backup-keys"
HOST_KEY = f"{backup.HOST_KEY}.pub"


def _host_keys(names: list[str]) -> dict[str, str]:
    return {n: fact_of(n, SshPublicKey, path=HOST_KEY) or "" for n in names}


@deploy("Backups: client key, password and its sealed copies")
def client_secrets() -> None:
    inv, srv = current()
    clients = backup.clients_of(inv, srv)
    if not clients:
        return
    need(packages.installed, name="restic and age packages",
         packages=["restic", "openssh-client", "age"])
    for path, mode in (("/etc/koumbit", "755"), (backup.CLIENT_DIR, "700"),
                       ("/var/backups/koumbit", "700"), ("/var/cache/restic", "700")):
        need(files.directory, name=f"Backups: {path}", path=path, user="root", group="root",
             mode=mode)
    # Made on the server, never seen by the deploy machine nor git.
    need(secrets.ssh_key, name="Backups: this server's own key", path=KEY,
         comment=f"restic@{srv.name}")
    need(secrets.random_file, name="Backups: repository password (root only)",
         path=backup.PASSWORD_FILE)
    changed = write_all(backup_seal_files(inv, srv, _host_keys([c.target.name for c in clients])))
    need(restic.password_sealed, name="Backups: password sealed (escrow, backup servers)",
         tool=backup.SEAL_TOOL, changes=ran(*changed))


def _client_file(client_name: str, fact: type[SshPublicKey] | type[AgeFile], path: str,
                 ) -> str | None:
    """A file of a client, read when the op runs (a client may make it in this very run)
    and while preparing (once per deploy)."""
    if host.state.is_executing:
        return inventory.get_host(client_name).get_fact(fact, path=path)
    return fact_of(client_name, fact, path=path)


def _authorized_key(client: backup.BackupClient) -> str | None:
    """The client's key, allowed to run only the append-only server on its repository."""
    key = _client_file(client.server.name, SshPublicKey, f"{KEY}.pub")
    if key is None:
        return None
    return (f'restrict,command="{client.serve_command}" {key} restic@{client.server.name}\n')


def _received(op_name: str, content: object, dest: str, known: bool) -> None:
    """Write a file whose content comes from a client; read at run time when the client
    makes it in this run."""
    (need if known else call)(remote_files.from_callable, name=op_name, content=content,
                              dest=dest, mode="600" if dest.endswith(".age") else "644")


@deploy("Backups: repositories on the backup server")
def repositories() -> None:
    inv, srv = current()
    if not srv.has(Role.BACKUP):
        return
    clients = backup.stored_on(inv, srv)
    need(packages.installed, name="restic, rclone and age packages",
         packages=["restic", "rclone", "age"])
    for path, mode in ((backup.CHROOT_ROOT, "755"), (KEYS_DIR, "755"),
                       (backup.TARGET_STATE, "700"), (backup.KEYS_DIR, "700"),
                       (backup.ESCROW_DIR, "700"), (backup.TARGET_CACHE, "755")):
        need(files.directory, name=f"Backups: {path}", path=path, user="root", group="root",
             mode=mode)
    changed = write_all(backup_target_files(inv, srv))
    for client in host.loop(clients):
        name = client.server.name
        need(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
            server.user,
            name=f"Backups: account {client.repo_user}",
            user=client.repo_user,
            comment=f"restic repository of {name}",
            home=client.chroot,
            # sshd runs even a forced command through the login shell: nologin would
            # refuse it. The key is forced to the append-only server, the password locked.
            shell="/bin/sh",
            system=True,
            ensure_home=False,  # the home stays root's: the account owns only its repository
        )
        need(files.directory, name=f"Backups: home of {name}'s account",
             path=client.chroot, user="root", group="root", mode="755")
        need(files.directory, name=f"Backups: repository of {name}",
             path=client.repo_path, user=client.repo_user, group=client.repo_user, mode="700")
        # A client making its key or copies in this very run has none yet: read them
        # when the op runs.
        _received(f"Backups: key of {name} authorised (append-only)",
                  lambda c=client: _authorized_key(c), f"{KEYS_DIR}/{client.repo_user}",
                  _authorized_key(client) is not None)
        for what, src, dest in (("escrow", backup.ESCROW_FILE, client.target_escrow_file),
                                ("password for this server", client.key_file,
                                 client.target_key_file)):
            _received(f"Backups: {what} of {name}",
                      lambda n=name, p=src: _client_file(n, AgeFile, p), dest,
                      _client_file(name, AgeFile, src) is not None)
    prune = "koumbit-backup-prune"
    need(services.units_loaded, name="Backups: systemd reload (pruning)",
         units=[f"{prune}.service", f"{prune}.timer"], changes=ran(*changed))
    need(systemd.service, name="Backups: daily pruning timer", service=f"{prune}.timer",
         running=True, enabled=True)


@deploy("Backups: client service, timer and repository")
def client_service() -> None:
    inv, srv = current()
    clients = backup.clients_of(inv, srv)
    if not clients:
        return
    host_keys = _host_keys([c.target.name for c in clients])
    changed = write_all(backup_files(inv, srv, host_keys))
    need(services.units_loaded, name="Backups: systemd reload",
         units=["koumbit-backup.service", "koumbit-backup.timer"], changes=ran(*changed))
    need(systemd.service, name="Backups: daily timer", service="koumbit-backup.timer",
         running=True, enabled=True)
    for client in host.loop(clients):
        # Asking restic costs most of a second (SSH and the key): a repository whose
        # config file is on the backup server is initialised; otherwise restic decides.
        if fact_of(client.target.name, File, path=f"{client.repo_path}/config") is None:
            call(restic.repository_initialised,
                 name=f"Backups: repository on {client.target.name} initialised",
                 wrapper=WRAPPER, target=client.target.name)


@deploy("Backups")
def backups() -> None:
    client_secrets()
    # Cross-host steps: every host passes each barrier before any goes on.
    # Always called (they change nothing): which host has work here is known per host only.
    call(sync.barrier, name="Backups: every client key made", reason="client keys exist")
    repositories()
    backup_verification()
    call(sync.barrier, name="Backups: every key authorised", reason="backup server ready")
    client_service()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(backups)
