"""Every configuration file a server deploy writes: template, target, mode and values.

Deploys iterate these lists (one pyinfra operation per file), and unit tests
render the very same list for every server of the lab and example
inventories, then check each result with its real tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from koumbit_infra.inventory import Inventory, Role, Server, SiteState
from koumbit_infra.serverconf import backup, database, firewall, tuning
from koumbit_infra.sites.layout import ARCHIVE
from koumbit_infra.sites.sftp import sftp_sites

FPM_IDLE_POOL = "koumbit-idle"


@dataclass(frozen=True)
class ConfigFile:
    """One rendered file: ``templates/<template>`` written to ``dest`` with ``mode``."""

    concern: str
    template: str
    dest: str
    mode: str
    context: Mapping[str, Any] = field(default_factory=dict)
    group: str = "root"


@dataclass(frozen=True)
class BaseFiles:
    """The hardened base's files by purpose, so a deploy names the one it writes."""

    apt: ConfigFile | None
    sshd: ConfigFile
    firewall: ConfigFile
    fail2ban: ConfigFile
    upgrades: ConfigFile
    journald: ConfigFile
    sudo: ConfigFile
    hardening: tuple[ConfigFile, ...]
    sysctl_net: ConfigFile
    sysctl_kernel: ConfigFile

    def all(self) -> tuple[ConfigFile, ...]:
        """Every file, in deploy order (the apt proxy first: installs go through it)."""
        first = (self.apt,) if self.apt else ()
        return (*first, self.sshd, self.firewall, self.fail2ban, self.upgrades, self.journald,
                self.sudo, *self.hardening, self.sysctl_net, self.sysctl_kernel)


def base_config(inv: Inventory, server: Server) -> BaseFiles:
    """Files of the hardened base every server gets."""
    sftp_users = (
        tuple(c for c in backup.backup_clients(inv) if c.target.name == server.name)
        if server.has(Role.BACKUP) else ()
    )
    return BaseFiles(
        apt=ConfigFile("apt", "etc/apt/apt.conf.d/01koumbit-proxy.j2",
                       "/etc/apt/apt.conf.d/01koumbit-proxy", "644",
                       {"proxy": inv.settings.apt_proxy}) if inv.settings.apt_proxy else None,
        sshd=ConfigFile("sshd", "etc/ssh/sshd_config.j2", "/etc/ssh/sshd_config", "644",
                        {"backup_clients": sftp_users, "chroot_root": backup.CHROOT_ROOT,
                         "sftp_sites": sftp_sites(inv, server),
                         "trusted": [str(n) for n in inv.settings.trusted_ssh_sources],
                         "penalties": server.release.openssh_penalties}),
        firewall=ConfigFile("firewall", "etc/nftables.conf.j2", "/etc/nftables.conf", "600",
                            {"server": server, "openings": firewall.openings(inv, server)}),
        # jail.local (not jail.d/): Debian's jail.conf stays untouched by upgrades.
        fail2ban=ConfigFile("fail2ban", "etc/fail2ban/jail.local.j2",
                            "/etc/fail2ban/jail.local", "644",
                            {"trusted": [str(n) for n in inv.settings.trusted_ssh_sources]}),
        upgrades=ConfigFile("upgrades", "etc/apt/apt.conf.d/20auto-upgrades.j2",
                            "/etc/apt/apt.conf.d/20auto-upgrades", "644", {}),
        journald=ConfigFile("journald", "etc/systemd/journald.conf.d/koumbit.conf.j2",
                            "/etc/systemd/journald.conf.d/koumbit.conf", "644",
                            {"max_use_mib": tuning.journald_max_use_mib(server)}),
        sudo=ConfigFile("sudo", "etc/sudoers.d/koumbit-admins.j2",
                        "/etc/sudoers.d/koumbit-admins", "440", {"admins": inv.admins}),
        hardening=hardening_files(server),
        sysctl_net=ConfigFile("sysctl-net", "etc/sysctl.d/90-koumbit-net.conf.j2",
                              "/etc/sysctl.d/90-koumbit-net.conf", "644"),
        sysctl_kernel=ConfigFile("sysctl-kernel", "etc/sysctl.d/90-koumbit-kernel.conf.j2",
                                 "/etc/sysctl.d/90-koumbit-kernel.conf", "644"),
    )


def base_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """Files of the hardened base every server gets, in deploy order."""
    return base_config(inv, server).all()


def hardening_files(server: Server) -> tuple[ConfigFile, ...]:
    """System hardening that lynis checks for: banners, core dumps, modules."""
    return (
        ConfigFile("hardening", "etc/issue.j2", "/etc/issue", "644", {"server": server}),
        ConfigFile("hardening", "etc/issue.j2", "/etc/issue.net", "644", {"server": server}),
        ConfigFile("hardening", "etc/security/limits.d/koumbit-no-core.conf.j2",
                   "/etc/security/limits.d/koumbit-no-core.conf", "644"),
        ConfigFile("hardening", "etc/modprobe.d/koumbit-blacklist.conf.j2",
                   "/etc/modprobe.d/koumbit-blacklist.conf", "644"),
    )


@dataclass(frozen=True)
class WebFiles:
    """nginx's files, and each PHP version's, so a deploy names what it writes."""

    nginx: tuple[ConfigFile, ...] = ()
    php: Mapping[str, tuple[ConfigFile, ...]] = field(default_factory=dict)

    def all(self) -> tuple[ConfigFile, ...]:
        return (*self.nginx, *(f for files in self.php.values() for f in files))


def web_config(server: Server) -> WebFiles:
    """nginx and PHP-FPM files of a web server (sites add their own)."""
    if not server.has(Role.WEB):
        return WebFiles()
    nginx = (
        ConfigFile("nginx", "etc/nginx/nginx.conf.j2", "/etc/nginx/nginx.conf", "644",
                   {"server": server}),
        ConfigFile("nginx", "etc/nginx/sites-available/000-default.conf.j2",
                   "/etc/nginx/sites-available/000-default.conf", "644", {"server": server}),
    )
    php = {
        "opcache_mib": tuning.opcache_memory_mib(server),
        "opcache_max_files": tuning.opcache_max_files(server),
        "opcache_revalidate_s": tuning.OPCACHE_REVALIDATE_S,
    }
    return WebFiles(nginx=nginx, php={
        fpm.version: (
            ConfigFile(f"php{fpm.version}", "etc/php/fpm/conf.d/90-koumbit.ini.j2",
                       fpm.conf_file("90-koumbit.ini"), "644", php),
            ConfigFile(f"php{fpm.version}", "etc/php/fpm/pool.d/koumbit-idle.conf.j2",
                       fpm.pool_file(FPM_IDLE_POOL), "644",
                       {"version": fpm.version, "pool": FPM_IDLE_POOL}),
        )
        for fpm in server.php
    })


def web_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """nginx and PHP-FPM files of a web server (sites add their own)."""
    return web_config(server).all()


def database_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    if not server.has(Role.DB):
        return ()
    return (
        ConfigFile("mariadb", "etc/mysql/mariadb.conf.d/90-koumbit.cnf.j2",
                   f"{server.release.mariadb_conf_dir}/90-koumbit.cnf", "644", {
                       "bind_address": database.bind_address(inv, server),
                       "buffer_pool_mib": tuning.innodb_buffer_pool_mib(server),
                       "log_file_mib": tuning.innodb_log_file_mib(server),
                   }),
    )


def backup_files(inv: Inventory, server: Server, host_keys: Mapping[str, str] | None = None,
                 ) -> tuple[ConfigFile, ...]:
    """Client side of the backups; ``host_keys`` are the targets' SSH host keys, by name,
    read from each target (a target not answering yet gets an empty line)."""
    clients = backup.clients_of(inv, server)
    if not clients:
        return ()
    ctx = {
        "server": server.name,
        "clients": clients,
        "client_dir": backup.CLIENT_DIR,
        "paths": backup.BACKUP_PATHS,
        "excludes": backup.EXCLUDES,
        "host_keys": {c.target.name: (host_keys or {}).get(c.target.name, "") for c in clients},
        "dump_databases": server.has(Role.DB),
        "recipients": backup.escrow_recipients(inv),
        "sites": [p.site.system_name for p in inv.sites_on(server.name)
                  if p.site.state is not SiteState.ABSENT],
        "archive": ARCHIVE,
    }
    return (
        ConfigFile("backup", "etc/koumbit/backup/ssh_config.j2",
                   f"{backup.CLIENT_DIR}/ssh_config", "600", ctx),
        ConfigFile("backup", "etc/koumbit/backup/known_hosts.j2",
                   f"{backup.CLIENT_DIR}/known_hosts", "600", ctx),
        ConfigFile("backup", "etc/koumbit/backup/excludes.j2",
                   f"{backup.CLIENT_DIR}/excludes", "600", ctx),
        ConfigFile("backup", "usr/local/sbin/koumbit-restic.j2",
                   "/usr/local/sbin/koumbit-restic", "700", ctx),
        ConfigFile("backup", "usr/local/sbin/koumbit-backup-run.j2",
                   "/usr/local/sbin/koumbit-backup-run", "700", ctx),
        ConfigFile("backup", "etc/systemd/system/koumbit-backup.service.j2",
                   "/etc/systemd/system/koumbit-backup.service", "644", ctx),
        ConfigFile("backup", "etc/systemd/system/koumbit-backup.timer.j2",
                   "/etc/systemd/system/koumbit-backup.timer", "644", ctx),
    )


def backup_seal_files(inv: Inventory, server: Server, host_keys: Mapping[str, str],
                      ) -> tuple[ConfigFile, ...]:
    """What a client seals its repository password with: the admins' keys (the escrow),
    each target's host key, and the tool (written before the targets take the copies)."""
    clients = backup.clients_of(inv, server)
    if not clients:
        return ()
    ctx = {"clients": clients, "client_dir": backup.CLIENT_DIR,
           "recipients": backup.escrow_recipients(inv)}
    return (
        ConfigFile("backup", "etc/koumbit/backup/escrow-recipients.j2",
                   backup.RECIPIENTS_FILE, "600", ctx),
        *(ConfigFile("backup", "etc/koumbit/backup/target.pub.j2", c.target_pub_file, "600",
                     {"host_key": host_keys.get(c.target.name, ""), "target": c.target.name})
          for c in clients),
        ConfigFile("backup", "usr/local/sbin/koumbit-backup-seal.j2", backup.SEAL_TOOL, "700",
                   ctx),
    )


def backup_target_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    """Backup-server side: the repositories' restic wrapper and their pruning."""
    clients = backup.stored_on(inv, server)
    if not server.has(Role.BACKUP):
        return ()
    ctx = {
        "server": server.name,
        "clients": clients,
        "keys_dir": backup.KEYS_DIR,
        "cache_root": backup.TARGET_CACHE,
        "host_key": backup.HOST_KEY,
        "chroot_root": backup.CHROOT_ROOT,
        "repo_dir": backup.REPO_DIR_IN_CHROOT,
    }
    return (
        ConfigFile("backup", "usr/local/sbin/koumbit-backup-repo.j2",
                   backup.TARGET_WRAPPER, "700", ctx),
        ConfigFile("backup", "usr/local/sbin/koumbit-backup-prune.j2",
                   "/usr/local/sbin/koumbit-backup-prune", "700", ctx),
        ConfigFile("backup", "etc/systemd/system/koumbit-backup-prune.service.j2",
                   "/etc/systemd/system/koumbit-backup-prune.service", "644", ctx),
        ConfigFile("backup", "etc/systemd/system/koumbit-backup-prune.timer.j2",
                   "/etc/systemd/system/koumbit-backup-prune.timer", "644", ctx),
    )


@dataclass(frozen=True)
class SftpFiles:
    """Clients' SFTP on a web server: the mount units of each chroot, each site's key file."""

    mounts: tuple[ConfigFile, ...] = ()
    keys: tuple[ConfigFile, ...] = ()

    def all(self) -> tuple[ConfigFile, ...]:
        return (*self.mounts, *self.keys)


def sftp_config(inv: Inventory, server: Server) -> SftpFiles:
    """The files of every SFTP chroot of ``server`` (see koumbit_infra.sites.sftp)."""
    sites = sftp_sites(inv, server)
    return SftpFiles(
        mounts=tuple(ConfigFile("sftp", "etc/systemd/system/koumbit-sftp.mount.j2",
                                view.unit_file, "644", {"sftp": site, "view": view})
                     for site in sites for view in site.views),
        # sshd reads it as the site's user (its group); written by root alone, and the
        # people's names and keys are no other site's business.
        keys=tuple(ConfigFile("sftp", "etc/ssh/koumbit-sftp/site.j2", site.keys_file, "640",
                              {"sftp": site}, group=site.login) for site in sites),
    )


def monitoring_files(inv: Inventory, server: Server) -> tuple[ConfigFile, ...]:
    return (
        ConfigFile("node-exporter", "etc/default/prometheus-node-exporter.j2",
                   "/etc/default/prometheus-node-exporter", "644",
                   {"listen": f"{server.address}:{firewall.NODE_EXPORTER_PORT}"}),
    )


def all_files(inv: Inventory, server: Server, backup_host_key: str,
              ) -> tuple[ConfigFile, ...]:
    """Every file the server deploys write to ``server``, in deploy order."""
    # Imported here: these build their files from ConfigFile, defined above.
    from koumbit_infra.serverconf.backupverify import verify_files
    from koumbit_infra.serverconf.certificates import certificate_files

    return (*base_files(inv, server), *certificate_files(inv, server), *web_files(inv, server),
            *database_files(inv, server), *sftp_config(inv, server).all(),
            *backup_seal_files(inv, server, {t.name: backup_host_key
                                             for t in backup.targets_of(inv, server)}),
            *backup_files(inv, server, {t.name: backup_host_key
                                        for t in backup.targets_of(inv, server)}),
            *backup_target_files(inv, server),
            *verify_files(inv, server),
            *monitoring_files(inv, server))
