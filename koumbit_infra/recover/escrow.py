"""A server's repository password, fetched from a backup target's escrow and decrypted here.

The escrow (``/var/lib/koumbit-backup/escrow/<server>.age`` on every target, root 0600)
is the password encrypted with ``age`` to every admin's SSH public key. Only its
ciphertext crosses the network; ``age -d -i KEY`` decrypts it on the admin's machine,
reading the ciphertext from a pipe and writing the password to a pipe: it is held in
memory only, never written to a file here nor put on a command line.
"""

from __future__ import annotations

import base64
import binascii
import shutil
import subprocess
from pathlib import Path

from fabric import Connection

from koumbit_infra.recover.errors import RecoverError
from koumbit_infra.remote import run

ESCROW_DIR = "/var/lib/koumbit-backup/escrow"
# The same password, encrypted to the target's own host key (the target's jobs read it).
TARGET_KEYS_DIR = "/var/lib/koumbit-backup/keys"
_MISSING = 3  # exit status of the fetch when the target holds no escrow of the server
DEFAULT_IDENTITIES = (".ssh/id_ed25519", ".ssh/id_rsa")


def escrow_file(server: str) -> str:
    return f"{ESCROW_DIR}/{server}.age"


def identity_file(given: Path | None, home: Path) -> Path:
    """The admin's private SSH key: ``given``, else ~/.ssh/id_ed25519, else ~/.ssh/id_rsa."""
    if given is not None:
        if not given.is_file():
            raise RecoverError(f"--identity {given}: no such file (an admin's private SSH"
                               " key, whose public key is in the inventory's admins)", 2)
        return given
    for name in DEFAULT_IDENTITIES:
        if (home / name).is_file():
            return home / name
    raise RecoverError("no --identity given and neither ~/.ssh/id_ed25519 nor ~/.ssh/id_rsa"
                       " exists: give the private key of an admin listed in the inventory", 2)


def fetch_command(server: str) -> str:
    """Root's shell line printing the escrow's ciphertext in base64 (it is binary)."""
    path = escrow_file(server)
    return f"if [ -f {path} ]; then base64 -w0 {path}; else exit {_MISSING}; fi"


def fetch(conn: Connection, server: str, target: str) -> bytes:
    """The ciphertext of ``server``'s escrow on ``target`` (reached by ``conn``)."""
    done = run(conn, fetch_command(server), timeout=60)
    if done.exit_code == _MISSING:
        raise RecoverError(f"{target} holds no escrow of {server} ({escrow_file(server)}):"
                           f" run a deploy of the backup targets first (koumbit-infra deploy"
                           f" --limit {target}) while {server}'s password still exists"
                           " somewhere, or try another target with --from")
    if not done.ok:
        raise RecoverError(f"reading {escrow_file(server)} on {target} failed"
                           f" (exit {done.exit_code}): {done.stderr.strip()[-300:]}")
    try:
        return base64.b64decode(done.stdout.strip(), validate=True)
    except binascii.Error:
        raise RecoverError(f"{target}: {escrow_file(server)} came back unreadable") from None


def decrypt(ciphertext: bytes, identity: Path, server: str) -> str:
    """The password inside an escrow, decrypted by ``age`` with the admin's ``identity``."""
    age = shutil.which("age")
    if age is None:
        raise RecoverError("the `age` program is missing on this machine: apt-get install age"
                           " (scripts/bootstrap installs it)", 2)
    # Ciphertext in through a pipe, password out through a pipe; age itself asks the
    # terminal for the key's passphrase if it has one.
    done = subprocess.run([age, "--decrypt", "--identity", str(identity)], input=ciphertext,
                          capture_output=True, check=False, timeout=300)
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        hint = (f" {identity} is not one of the admins' keys this escrow was made for; use"
                " an admin's key listed in the inventory, or ask an admin to deploy the"
                " backup targets again after your key was added"
                if "no identity matched" in said else "")
        raise RecoverError(f"{server}'s escrow could not be decrypted with {identity}:"
                           f" {said[-300:]}.{hint}")
    try:
        password = done.stdout.decode("ascii")
    except UnicodeDecodeError:
        raise RecoverError(f"{server}'s escrow does not hold a repository password") from None
    if not password.strip() or "\0" in password:
        raise RecoverError(f"{server}'s escrow holds an empty password")
    return password
