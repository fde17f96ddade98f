"""The hardened Debian base every server gets.

Admin accounts and keys, sshd with keys only, an nftables firewall that drops
by default, fail2ban for sshd, unattended security upgrades, time sync,
journald limits and the apt proxy. Runnable alone:
``pyinfra inventory/lab.py deploys/server.py``.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Users
from pyinfra.operations import files, server, systemd

from koumbit_infra.deploykit import current, write
from koumbit_infra.facts.system import Virtualisation
from koumbit_infra.operations import packages
from koumbit_infra.serverconf.files import base_files

ADMIN_GROUP = "koumbit-admins"
BASE_PACKAGES = [
    "openssh-server", "sudo", "nftables", "fail2ban", "python3-systemd",
    "unattended-upgrades", "systemd-timesyncd", "ca-certificates",
    # lynis' advice that holds on a web host: package integrity checks, a
    # private /tmp per login session, restarts after library upgrades.
    "debsums", "libpam-tmpdir", "needrestart", "apt-listchanges",
]


@deploy("Base: apt proxy and packages")
def apt_and_packages() -> None:
    inv, srv = current()
    cfgs = {c.concern: c for c in base_files(inv, srv)}
    if "apt" in cfgs:
        write(cfgs["apt"])  # before anything is installed, so installs use the cache
    packages.installed(name="Base packages", packages=BASE_PACKAGES)


@deploy("Base: admin accounts")
def admins() -> None:
    inv, srv = current()
    server.group(name=f"Group {ADMIN_GROUP}", group=ADMIN_GROUP)
    for admin in host.loop(inv.admins):
        server.user(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
            name=f"Admin {admin.name}",
            user=admin.name,
            comment=admin.full_name,
            shell="/bin/bash",
            groups=[ADMIN_GROUP],
            public_keys=list(admin.ssh_keys),
            delete_keys=True,  # a key removed from the inventory stops working
            create_home=True,
        )
    # Someone removed from the inventory loses their account on the next deploy.
    known = {a.name for a in inv.admins}
    users = host.get_fact(Users)
    former = sorted(u for u, info in users.items()
                    if ADMIN_GROUP in info.get("groups", []) and u not in known)
    for name in host.loop(former):
        server.user(name=f"Remove former admin {name}", user=name, present=False)
    files.directory(name="Admin sudoers dir", path="/etc/sudoers.d", mode="750",
                    user="root", group="root")
    write(next(c for c in base_files(inv, srv) if c.concern == "sudo"))


@deploy("Base: sshd keys only")
def sshd() -> None:
    inv, srv = current()
    config = write(next(c for c in base_files(inv, srv) if c.concern == "sshd"))
    # Check before reloading: a config sshd rejects must never be live.
    server.shell(name="sshd: check the new config", commands=["sshd -t"],
                 _if=config.did_change)
    systemd.service(name="sshd: reload", service="ssh", running=True, enabled=True,
                    reloaded=True, _if=config.did_change)
    systemd.service(name="sshd: running", service="ssh", running=True, enabled=True)


@deploy("Base: nftables firewall")
def firewall() -> None:
    inv, srv = current()
    rules = write(next(c for c in base_files(inv, srv) if c.concern == "firewall"))
    server.shell(name="nftables: check the new ruleset", commands=["nft -c -f /etc/nftables.conf"],
                 _if=rules.did_change)
    # Reload, never restart: stopping nftables.service flushes the whole
    # ruleset, fail2ban's table included. The file replaces only our table.
    server.shell(name="nftables: load the ruleset", commands=["nft -f /etc/nftables.conf"],
                 _if=rules.did_change)
    systemd.service(name="nftables: enabled at boot", service="nftables", enabled=True,
                    running=True)


@deploy("Base: fail2ban, upgrades, time, journald")
def services() -> None:
    inv, srv = current()
    cfgs = {c.concern: c for c in base_files(inv, srv)}
    jail = write(cfgs["fail2ban"])
    systemd.service(name="fail2ban: restart", service="fail2ban", restarted=True,
                    _if=jail.did_change)
    systemd.service(name="fail2ban: running", service="fail2ban", running=True, enabled=True)

    write(cfgs["upgrades"])
    systemd.service(name="apt-daily-upgrade.timer: enabled", service="apt-daily-upgrade.timer",
                    running=True, enabled=True)

    # In a container the host owns the clock: systemd-timesyncd's own unit
    # skips itself there (ConditionVirtualization=!container), so only ask
    # for it to run on real machines and VMs.
    container = host.get_fact(Virtualisation) != "none"
    systemd.service(name="systemd-timesyncd: enabled", service="systemd-timesyncd",
                    enabled=True, running=None if container else True)

    journald = write(cfgs["journald"])
    systemd.service(name="journald: restart", service="systemd-journald", restarted=True,
                    _if=journald.did_change)


@deploy("Base")
def base() -> None:
    apt_and_packages()
    admins()
    sshd()
    firewall()
    services()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    base()
