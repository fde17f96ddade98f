"""Clients' SFTP: each person of a client file's ``people:`` reaches the sites named for them,
chrooted to each site's views (code, uploads, logs), with no shell and no forwarding.

Order: access the inventory no longer gives goes first (key files, then mount
units, then chroots); then each chroot and its bind mounts; then the key files;
last, sshd's ``Match`` blocks (base's sshd_config), checked with ``sshd -t``
before the reload. A site's keys work only inside its ``Match`` block, so no
moment of a run lets a key open anything but the finished chroot.
Layout and reasons: koumbit_infra/sites/sftp.py. Runs after deploys/sites.py
(the sites' trees must exist). Runnable alone:
``pyinfra inventory/lab.py deploys/sftp.py --limit web2``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.operations import files

from deploys.server import sshd
from koumbit_infra.converge import converge, need, ran
from koumbit_infra.deploykit import current, write_all
from koumbit_infra.inventory import Role
from koumbit_infra.operations import services
from koumbit_infra.operations import sftp as ops
from koumbit_infra.serverconf.files import sftp_config
from koumbit_infra.sites.sftp import KEYS_DIR, SFTP_ROOT, sftp_sites


@deploy("Client SFTP")
def client_sftp() -> None:
    inv, srv = current()
    if not srv.has(Role.WEB):
        return
    chroots = [s.plan for s in sftp_sites(inv, srv)]
    cfgs = sftp_config(inv, srv)
    for path in (KEYS_DIR, SFTP_ROOT):
        need(files.directory, name=f"SFTP: {path}", path=path, user="root", group="root",
             mode="755")
    gone = need(ops.revoked, name="SFTP: access the inventory no longer gives, removed",
                chroots=chroots)
    need(ops.chroots_made, name="SFTP: chroots and their mount points", chroots=chroots)
    units = write_all(cfgs.mounts)
    need(services.units_loaded, name="SFTP: systemd reads the mount units",
         units=[v.unit for c in chroots for v in c.views], changes=ran(gone, *units))
    need(ops.views_mounted, name="SFTP: each site's views mounted", chroots=chroots)
    write_all(cfgs.keys)
    sshd()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(client_sftp)
