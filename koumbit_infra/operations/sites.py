"""pyinfra operations of the sites deploy: each reads the batched ``SitesState`` fact
(gathered once per host, see :func:`sites_state`) and yields commands only for drift.
"""

from __future__ import annotations

import shlex
from collections.abc import Generator, Iterable
from io import StringIO

from pyinfra.api.command import FileUploadCommand, PyinfraCommand
from pyinfra.api.operation import operation
from pyinfra.context import host

from koumbit_infra.facts.sites import PathState, SitesState, SitesStateData
from koumbit_infra.operations.tls import failure_mark, from_certbot
from koumbit_infra.sites.drush import drush_line
from koumbit_infra.sites.files import SiteFile
from koumbit_infra.sites.layout import (
    RELOAD_PENDING,
    SITES_ROOT,
    STAGING_USER,
    Directory,
    SiteLayout,
)
from koumbit_infra.sites.secrets import generate_command, htpasswd_command, read_key_shell
from koumbit_infra.sites.shell import as_site, locked

_STATE: dict[str, SitesStateData] = {}
_SQL = "mariadb --batch"


def sites_state(names: Iterable[str], paths: Iterable[str], timers: Iterable[str],
                certificates: Iterable[str]) -> SitesStateData:
    """The batched fact of the current host, gathered on the first call only.

    pyinfra does not cache facts, and every operation below needs this one:
    one round trip per host and per run, whatever the number of sites.
    """
    if host.name not in _STATE:
        listed = sorted(set(paths))
        _STATE[host.name] = host.get_fact(SitesState, names=tuple(names),
                                          path_count=len(listed),
                                          timers=tuple(timers),
                                          certificates=tuple(certificates),
                                          _stdin=listed)
    return _STATE[host.name]


def _current() -> SitesStateData:
    try:
        return _STATE[host.name]
    except KeyError:
        raise RuntimeError("call sites_state() before the site operations") from None


@operation()
def user(site: str, home: str) -> Generator[str, None, None]:
    """The site's system user and group, without login shell or password."""
    if site in _current().users:
        return
    yield (f"useradd --system --user-group --no-create-home --home-dir {shlex.quote(home)}"
           f" --shell /usr/sbin/nologin --comment {shlex.quote('koumbit site ' + site)} {site}")


def _drifted(dirs: list[Directory], hardened: bool = False) -> list[Directory]:
    """The folders that are missing, not folders, or of another owner, group or mode
    (``hardened``: a mode less write bits is the site's own choice, see Directory.settled)."""
    paths = _current().paths
    return [d for d in dirs if (now := paths.get(d.path)) is None
            or (now.kind, now.owner, now.group) != ("d", d.owner, d.group)
            or not d.settled(now.mode, hardened)]


@operation()
def directories(dirs: list[Directory], site: SiteLayout) -> Generator[str, None, None]:
    """Root's folders of a site, each in a root-owned parent, parents first.

    Checked when the command runs, not only from the fact: something that is
    not a real folder where one belongs (a link or file the site planted while
    it still owned its root) is moved aside, never followed; ``chown -h`` never
    follows either, and once the parent is root's nothing can be swapped
    between the check and ``chmod``.
    """
    if not _drifted(dirs):
        return
    # Parents first: the site's root is root's before anything inside it is checked.
    # The sites' folder itself is root's (a new server has none yet).
    steps = [f"mkdir -p -m 755 {SITES_ROOT}"]
    for d in dirs:
        p = shlex.quote(d.path)
        steps.append(
            f"if [ -L {p} ] || {{ [ -e {p} ] && [ ! -d {p} ]; }}; then"
            f" mv -T {p} {p}.planted-$(date +%s) && echo {shlex.quote(site.domain)}:"
            f" {p} was not a folder: moved aside, not followed >&2; fi;"
            f" [ -d {p} ] || mkdir -m {d.mode} {p};"
            f" chown -h {d.owner}:{d.group} {p} && chmod {d.mode} {p}")
    yield locked(site, "set -e; " + "; ".join(steps))


@operation()
def log_files(site: SiteLayout) -> Generator[str, None, None]:
    """nginx's two logs of the site, root's and readable by the site's group alone (its
    SFTP view shows them), made before nginx opens them: ``nginx -t`` would make a missing
    one with the mode of whoever ran it (0640 root:root under Debian 13's umask).
    Their folder is root's, never the site's: nothing in it can be swapped."""
    paths = _current().paths
    wrong = [p for p in (site.access_log, site.error_log) if (now := paths.get(p)) is None
             or (now.kind, now.owner, now.group, now.mode) != ("f", "root", site.name, "640")]
    for p in map(shlex.quote, wrong):
        yield f"touch {p} && chown -h root:{site.name} {p} && chmod 0640 {p}"


@operation()
def site_directories(site: SiteLayout, dirs: list[Directory]) -> Generator[str, None, None]:
    """Folders inside the site's own folders, made by the site's user.

    Their write bits are the site's: Drupal's status check takes them off the folders it
    owns (0555), and a deploy putting them back would report a change on every run.
    """
    if wrong := _drifted(dirs, hardened=True):
        # chgrp too: in the setgid uploads folder a new folder takes group www-data, and a
        # site's user may give what it owns to its own group. It inherits the setgid bit
        # as well, which a 3-digit chmod keeps on a folder (GNU chmod): "00" clears it.
        script = "; ".join(f'mkdir -p "${i}" && chgrp {d.group} "${i}" && chmod 00{d.mode} "${i}"'
                           for i, d in enumerate(wrong, 1))
        yield locked(site, as_site(site, "set -e; " + script, *(d.path for d in wrong)))


@operation()
def site_links(site: SiteLayout, links: dict[str, str]) -> Generator[str, None, None]:
    """Links inside the site's own code, made by its user; a real folder in the way of
    Drupal's ``sites/default`` (an earlier layout) is moved aside, never deleted."""
    paths = _current().paths
    # Owned by the site too: nginx serves a link only if its owner owns the target.
    wrong = [(path, target) for path, target in sorted(links.items())
             if (now := paths.get(path)) is None
             or (now.kind, now.target, now.owner) != ("l", target, site.name)]
    if wrong:
        yield _MARK_PENDING
    for path, target in wrong:
        script = ('if [ -d "$1" ] && [ ! -L "$1" ] && [ "${1##*/}" = default ]; then'
                  ' mv -T "$1" "$1.before-koumbit-$(date +%s)"; fi;'
                  ' mkdir -p "${1%/*}" && ln -sfnT "$2" "$1"')
        yield locked(site, as_site(site, script, path, target))


@operation()
def legacy_removed(site: SiteLayout, paths: list[str]) -> Generator[str, None, None]:
    """Root-owned files an earlier layout left in the site's code, removed by the site's
    user (only if still root's: a file of the site's own is its business)."""
    now = _current().paths
    found = [p for p in paths if p in now and now[p].owner == "root"]
    if found:
        yield _MARK_PENDING
        yield locked(site, as_site(site, 'for p; do find "$p" -maxdepth 0 -type f -user root'
                                   ' -delete; done', *found))


_MARK_PENDING = f"mkdir -p {RELOAD_PENDING.rsplit('/', 1)[0]} && touch {RELOAD_PENDING}"


def certificate_needed(site: SiteLayout) -> bool:
    """Whether the site's certificate is missing, about to expire, names other domains, or
    is not certbot's (a placeholder after a failed issuance, or an earlier CA's file), or
    whether its last issuance or renewal failed."""
    path = f"{site.cert_dir}/fullchain.pem"
    now, link = _current().certificates.get(path), _current().paths.get(path)
    return (now is None or not now.fresh
            or now.domains != frozenset(site.placed.site.all_domains)
            or link is None or link.kind != "l" or link.target != from_certbot(site.name)
            or certificate_failed(site))


def certificate_failed(site: SiteLayout) -> bool:
    """Whether the last issuance or renewal of the site's certificate failed."""
    return failure_mark(site.name) in _current().paths


def reload_pending() -> bool:
    """Whether an earlier run changed configuration and was killed before reloading."""
    return RELOAD_PENDING in _current().paths


@operation()
def files_written(files: list[SiteFile]) -> Generator[PyinfraCommand | str, None, None]:
    """Each rendered file, sent only when its hash, owner, group or mode differs."""
    paths = _current().paths
    if any(_differs(paths.get(f.dest), f) for f in files):
        yield _MARK_PENDING
    for f in files:
        now = paths.get(f.dest)
        dest = shlex.quote(f.dest)
        if now is None:
            # Folders as Debian 12 makes them: Debian 13's root sessions have umask 027.
            yield f"(umask 022 && mkdir -p {shlex.quote(f.dest.rsplit('/', 1)[0])})"
        if now is None or now.kind != "f" or now.sha256 != f.sha256:
            yield FileUploadCommand(StringIO(f.content), f.dest,
                                    remote_temp_filename=host.get_temp_filename(f.dest))
        elif (now.owner, now.group, now.mode) == (f.owner, f.group, f.mode):
            continue
        yield f"chown {f.owner}:{f.group} {dest}"
        yield f"chmod {f.mode} {dest}"


def _differs(now: PathState | None, f: SiteFile) -> bool:
    return now is None or (now.kind, now.sha256, now.owner, now.group, now.mode) != (
        "f", f.sha256, f.owner, f.group, f.mode)


@operation()
def links(links: dict[str, str]) -> Generator[str, None, None]:
    """Symbolic links; a real directory in the way makes the command fail (never deleted)."""
    paths = _current().paths
    wrong = [(path, target) for path, target in sorted(links.items())
             if (now := paths.get(path)) is None or now.kind != "l" or now.target != target]
    if wrong:
        yield _MARK_PENDING
    for path, target in wrong:
        yield f"ln -sfnT {shlex.quote(target)} {shlex.quote(path)}"


@operation()
def paths_removed(paths: list[str]) -> Generator[str, None, None]:
    """Configuration files removed (a disabled site's pool); never site data."""
    found = [p for p in paths if p in _current().paths]
    if found:
        yield _MARK_PENDING
        yield f"rm -f {' '.join(shlex.quote(p) for p in found)}"


@operation()
def secrets(site: SiteLayout) -> Generator[str, None, None]:
    """The site's secret file, generated on the server once (root:site 0640)."""
    if site.secrets_file in _current().paths:
        return
    yield locked(site, generate_command(site.secrets_file, site.name))


@operation()
def staging_credentials(path: str) -> Generator[str, None, None]:
    """A staging copy's HTTP basic auth file at ``path``, made on the server once, with a
    password shown to nobody: the copy is closed from its first deploy. ``koumbit-infra
    site staging`` makes the credentials it shows (the same command, printing)."""
    if path in _current().paths:
        return
    yield htpasswd_command(path, STAGING_USER, show=False)


@operation()
def database(site: SiteLayout) -> Generator[str, None, None]:
    """Database and user ``<site>@localhost`` with rights on that database only.

    The password goes from the secret file into MariaDB through a pipe, never
    through a command line; a freshly made secret file resets the password.
    """
    now = _current()
    name = site.name
    if name not in now.databases:
        yield (f"{_SQL} -e 'CREATE DATABASE IF NOT EXISTS `{name}`"
               f" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci'")
    if name in now.db_users and site.secrets_file in now.paths:
        return
    password = read_key_shell(site.secrets_file, "db_password")
    yield (f"{{ printf \"CREATE OR REPLACE USER '{name}'@'localhost' IDENTIFIED BY '\";"
           f" {password} | tr -d '\\n';"
           f" printf \"';\\nGRANT {site.db_privileges} ON \\`{name}\\`.* TO"
           f" '{name}'@'localhost';\\n\"; }} | {_SQL}")


@operation()
def site_code(site: SiteLayout, tool: str) -> Generator[str, None, None]:
    """The site's core code, when it has none yet: ``koumbit-site-code SITE`` (``tool``),
    the command that updates it later, from settings.codebases' sources, as the site's
    user. It takes the site's lock itself (a lock taken here would make it wait forever),
    and writes the code's marker file last, so a run cut short runs again."""
    if site.code_marker in _current().paths:
        return
    yield f"{tool} {site.name}"


@operation()
def wordpress_installed(site: SiteLayout, installer: str) -> Generator[str, None, None]:
    """WordPress's own installer, as the site's user, until it has once succeeded.

    Its success is marked by root in the site's secrets folder (the site cannot
    forge it); a run killed mid-install runs the installer again, which
    finishes or reports what is missing.
    """
    if site.installed_marker in _current().paths:
        return
    install = as_site(site, f'cd "$1" && KOUMBIT_SITE_URL="$2" {site.php.cli}'
                      f' {installer} "$1" "$3" "$4"', site.web, site.url, site.title,
                      site.admin_email)
    yield locked(site, f"{install} && touch {shlex.quote(site.installed_marker)}")


@operation()
def drupal_installed(site: SiteLayout) -> Generator[str, None, None]:
    """``drush site:install`` once, by the site's own drush (koumbit_infra.sites.drush),
    reading the database from settings.php; its success marked by root in the site's
    secrets folder (the site cannot forge it)."""
    if site.installed_marker in _current().paths:
        return
    yield locked(site, drupal_install_script(site))


# drush prints the admin password it made; the deploy's output is no place for it.
_HIDE_PASSWORD = r"s/\(password: *\).*/\1(hidden: sign in with drush user:login)/I"  # noqa: S105


def drupal_install_script(site: SiteLayout) -> str:
    """Root's shell script (run under the site's lock) installing Drupal unless it is.

    drush drops every table of the database before installing: a site already installed
    (Drupal's own state says its install task is done) whose mark was lost is marked
    again, never installed over. A first run cut short leaves no such state, so the next
    run installs again.
    """
    mark = f"touch {shlex.quote(site.installed_marker)}"
    # The site's system name: validated by the inventory, [a-z0-9_] only.
    sql = (f"SELECT value FROM `{site.name}`.key_value"  # noqa: S608
           " WHERE collection = 'state' AND name = 'install_task'")
    install = drush_line(site, "site:install", "standard", "--yes", f"--site-name={site.title}",
                         f"--account-mail={site.admin_email}")
    return (f"case \"$({_SQL} -N -e {shlex.quote(sql)} 2>/dev/null)\" in"
            f" *'\"done\"'*) {mark};;"
            f" *) out=$({install} 2>&1); rc=$?;"
            f" printf '%s\\n' \"$out\" | sed {shlex.quote(_HIDE_PASSWORD)} >&2;"
            f" [ $rc -eq 0 ] && {mark};; esac")


@operation()
def timer(unit: str, active: bool) -> Generator[str, None, None]:
    """A site's cron timer enabled and running, or stopped and disabled."""
    running = unit in _current().timers_active
    if active and not running:
        yield f"systemctl enable --now {unit}"
    elif not active and running:
        yield f"systemctl disable --now {unit}"


def leftovers(site: SiteLayout) -> list[str]:
    """What of an absent site still exists on the server (empty: nothing to do)."""
    now = _current()
    found = [p for p in (site.root, site.vhost_file, site.vhost_link, site.pool_file)
             if p in now.paths]
    found += [f"user {site.name}"] if site.name in now.users else []
    found += [f"database {site.name}"] if site.name in now.databases else []
    found += [f"database user {site.name}"] if site.name in now.db_users else []
    return found


@operation()
def absent(site: SiteLayout, remover: str) -> Generator[str, None, None]:
    """Archive, verify the archive by restoring it, and only then remove the site.

    ``remover`` (koumbit-site-remove) stops before removing anything when the
    restored copy differs from the site.
    """
    if not leftovers(site):
        return
    yield f"{remover} {site.name}"


@operation()
def sockets_current(service: str, sockets: list[str]) -> Generator[str, None, None]:
    """Restart ``service`` when a live socket has an owner or mode its pool no longer says.

    A reload keeps FPM's listening sockets as they were created, so a new
    ``listen.mode`` only applies after a restart.
    """
    paths = _current().paths
    stale = [s for s in sockets if (now := paths.get(s)) is not None
             and (now.owner, now.group, now.mode) != ("www-data", "www-data", "660")]
    if stale:
        yield f"systemctl restart {service}"
