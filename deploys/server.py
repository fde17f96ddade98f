"""The hardened Debian base every server gets.

Admin accounts and keys, sshd with keys only, an nftables firewall that drops
by default, fail2ban for sshd, unattended security upgrades, time sync,
journald limits and the apt proxy. Runnable alone:
``pyinfra inventory/lab.py deploys/server.py``.
"""

from __future__ import annotations

from pyinfra.api.deploy import deploy
from pyinfra.context import host
from pyinfra.facts.server import Users
from pyinfra.operations import files, server, systemd

from koumbit_infra.converge import converge, fact, need, ran
from koumbit_infra.deploykit import current, write
from koumbit_infra.facts.system import Virtualisation
from koumbit_infra.operations import packages, services
from koumbit_infra.serverconf.files import base_config

ADMIN_GROUP = "koumbit-admins"
BASE_PACKAGES = [
    "openssh-server", "sudo", "nftables", "fail2ban", "python3-systemd",
    "unattended-upgrades", "systemd-timesyncd", "ca-certificates",
    # lynis' advice that holds on a web host: package integrity checks, a
    # private /tmp per login session, restarts after library upgrades,
    # password quality (for any account that ever gets one), patch levels,
    # process accounting, a rootkit scanner. Not apt-listbugs: it queries
    # bugs.debian.org on every install and stalls where that is unreachable.
    "debsums", "libpam-tmpdir", "needrestart", "apt-listchanges", "libpam-pwquality",
    "apt-show-versions", "sysstat", "rkhunter",
]
# Process accounting needs CAP_SYS_PACCT, which a container does not get:
# its service fails there and leaves systemd degraded.
REAL_MACHINE_PACKAGES = ["acct"]
# /etc/login.defs: new accounts get private homes; password rules for the
# day an account gets a password (none has one today: keys only).
LOGIN_DEFS = {
    "UMASK": "027",
    "HOME_MODE": "0750",
    "PASS_MAX_DAYS": "365",
    "PASS_MIN_DAYS": "1",
    "SHA_CRYPT_MIN_ROUNDS": "100000",
    "SHA_CRYPT_MAX_ROUNDS": "200000",
}
CRON_DIRS = ("/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly",
             "/etc/cron.monthly")


@deploy("Base: apt proxy and packages")
def apt_and_packages() -> None:
    inv, srv = current()
    cfgs = base_config(inv, srv)
    if cfgs.apt:
        write(cfgs.apt)  # before anything is installed, so installs use the cache
    need(packages.installed, name="Base packages", packages=BASE_PACKAGES)
    if fact(Virtualisation) == "none":
        need(packages.installed, name="Real machine packages", packages=REAL_MACHINE_PACKAGES)


@deploy("Base: admin accounts")
def admins() -> None:
    inv, srv = current()
    need(server.group, name=f"Group {ADMIN_GROUP}", group=ADMIN_GROUP)
    for admin in host.loop(inv.admins):
        need(  # noqa: S604 (shell= is the login shell, not a subprocess shell)
            server.user,
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
    users = fact(Users)
    former = sorted(u for u, info in users.items()
                    if ADMIN_GROUP in info.get("groups", []) and u not in known)
    for name in host.loop(former):
        need(server.user, name=f"Remove former admin {name}", user=name, present=False)
    need(files.directory, name="Admin sudoers dir", path="/etc/sudoers.d", mode="750",
         user="root", group="root")
    write(base_config(inv, srv).sudo)


@deploy("Base: sshd keys only")
def sshd() -> None:
    inv, srv = current()
    config = write(base_config(inv, srv).sshd)
    # Checked before the reload: a config sshd rejects must never be live.
    need(services.refreshed, name="sshd: reload for its new config", service="ssh",
         files=["/etc/ssh/sshd_config"], changes=ran(config), check="sshd -t")
    need(systemd.service, name="sshd: running", service="ssh", running=True, enabled=True)


@deploy("Base: nftables firewall")
def firewall() -> None:
    inv, srv = current()
    rules = write(base_config(inv, srv).firewall)
    if rules is not None:
        need(server.shell, name="nftables: check the new ruleset",
             commands=["nft -c -f /etc/nftables.conf"], _if=rules.did_change)
        # Reload, never restart: stopping nftables.service flushes the whole
        # ruleset, fail2ban's table included. The file replaces only our table.
        need(server.shell, name="nftables: load the ruleset",
             commands=["nft -f /etc/nftables.conf"], _if=rules.did_change)
    need(systemd.service, name="nftables: enabled at boot", service="nftables", enabled=True,
         running=True)


@deploy("Base: fail2ban, upgrades, time, journald")
def system_services() -> None:
    inv, srv = current()
    cfgs = base_config(inv, srv)
    jail = write(cfgs.fail2ban)
    need(services.refreshed, name="fail2ban: restart for its new jail", service="fail2ban",
         files=[cfgs.fail2ban.dest], changes=ran(jail), action="restart")
    need(systemd.service, name="fail2ban: running", service="fail2ban", running=True,
         enabled=True)

    write(cfgs.upgrades)
    need(systemd.service, name="apt-daily-upgrade.timer: enabled",
         service="apt-daily-upgrade.timer", running=True, enabled=True)

    # In a container the host owns the clock: systemd-timesyncd's own unit
    # skips itself there (ConditionVirtualization=!container), so only ask
    # for it to run on real machines and VMs.
    container = fact(Virtualisation) != "none"
    need(systemd.service, name="systemd-timesyncd: enabled", service="systemd-timesyncd",
         enabled=True, running=None if container else True)

    journald = write(cfgs.journald)
    need(services.refreshed, name="journald: restart for its new limits",
         service="systemd-journald", files=[cfgs.journald.dest], changes=ran(journald),
         action="restart")


@deploy("Base: hardening")
def hardening() -> None:
    inv, srv = current()
    cfgs = base_config(inv, srv)
    for cfg in host.loop(list(cfgs.hardening)):
        write(cfg)
    # Network keys live in the server's network namespace: apply them now.
    # Kernel keys are applied by systemd-sysctl at boot; a container cannot
    # set them (its host's kernel decides), so they are only applied outside one.
    if (net := write(cfgs.sysctl_net)) is not None:
        need(server.shell, name="sysctl: network keys applied",
             commands=["sysctl -q -p /etc/sysctl.d/90-koumbit-net.conf"], _if=net.did_change)
    kernel = write(cfgs.sysctl_kernel)
    if kernel is not None and fact(Virtualisation) == "none":
        need(server.shell, name="sysctl: kernel keys applied",
             commands=["sysctl -q -p /etc/sysctl.d/90-koumbit-kernel.conf"],
             _if=kernel.did_change)
    for key, value in host.loop(sorted(LOGIN_DEFS.items())):
        need(files.line, name=f"login.defs: {key} {value}", path="/etc/login.defs",
             line=rf"^#?{key}\s.*", replace=f"{key} {value}", extended_regex=True)
    for path in host.loop(list(CRON_DIRS)):
        need(files.directory, name=f"cron: {path} root only", path=path, user="root",
             group="root", mode="700")
    for admin in host.loop(inv.admins):
        need(files.directory, name=f"Home of {admin.name} private", path=f"/home/{admin.name}",
             user=admin.name, group=admin.name, mode="750")
    need(files.line, name="sysstat: collecting", path="/etc/default/sysstat",
         line=r"^ENABLED=.*", replace='ENABLED="true"')
    need(systemd.service, name="sysstat: running", service="sysstat", running=True,
         enabled=True)
    if fact(Virtualisation) == "none":
        need(systemd.service, name="acct: running", service="acct", running=True, enabled=True)


@deploy("Base")
def base() -> None:
    apt_and_packages()
    admins()
    sshd()
    firewall()
    system_services()
    hardening()


if __name__ == "builtins":  # executed by pyinfra as a deploy file, not imported
    converge(base)
