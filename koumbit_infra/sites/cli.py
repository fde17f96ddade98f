"""``koumbit-infra site backup|restore|clone|migrate|verify|sftp|staging DOMAIN``,
``koumbit-infra sites status|advisories``, ``koumbit-infra site update SEL`` and
``koumbit-infra run``.

Exit status: 0 done; 1 a step failed on a server (its message says which);
2 bad usage or a domain/server the inventory does not know (nothing touched).
SSH settings are pyinfra's own (see ``koumbit_infra.remote``).
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click

from koumbit_infra.clikit import (
    env_option,
    inventory_option,
    open_inventory,
    pyinfra_inventory_file,
)
from koumbit_infra.inventory import Inventory, Role, SiteState
from koumbit_infra.sites.errors import SiteCommandError


def _ca_file(inv: Inventory) -> str | None:
    """The CAs the sites' certificates are checked against besides the system's (the lab's
    Pebble roots), the file the servers trust too."""
    return inv.settings.acme_ca_bundle


@click.group("site")
def site_group() -> None:
    """Act on one site now: backup, restore, clone, migrate, verify, staging; or show its
    SFTP; or update the core of the sites a selector picks."""


@site_group.command("backup")
@env_option
@inventory_option
@click.argument("domain")
def backup_command(env: str, inventory_dir: Path | None, domain: str) -> None:
    """Back DOMAIN up now (files, database, secrets), verified by a test restore."""
    from koumbit_infra.remote import connect
    from koumbit_infra.sites import backups, selection

    inv = open_inventory(env, inventory_dir)
    site = selection.one(inv, domain)
    with connect(inv, site.placed.site.server) as conn:
        snapshot = backups.backup(conn, site)
    click.echo(f"{site.domain}: snapshot {snapshot}, verified")


@site_group.command("restore")
@env_option
@inventory_option
@click.argument("domain")
@click.option("--snapshot", default=None, help="Snapshot id (or its start) to restore.")
@click.option("--at", "at", default=None,
              help="Point in time (ISO 8601, e.g. 2026-11-27T06:00+00:00): the last snapshot"
                   " taken at or before it.")
@click.option("--list", "list_only", is_flag=True, help="Only list the site's snapshots.")
def restore_command(*, env: str, inventory_dir: Path | None, domain: str,
                    snapshot: str | None, at: str | None, list_only: bool) -> None:
    """Restore DOMAIN from its latest snapshot, a given one, or a point in time."""
    from koumbit_infra.remote import connect
    from koumbit_infra.sites import backups, selection

    inv = open_inventory(env, inventory_dir)
    site = selection.one(inv, domain)
    when = None
    if at:
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            raise SiteCommandError(f"--at {at}: not an ISO 8601 time", 2) from None
        if when.tzinfo is None:
            raise SiteCommandError("--at needs a time zone (e.g. +00:00 or -05:00)", 2)
    with connect(inv, site.placed.site.server) as conn:
        found = backups.snapshots(conn, site)
        if list_only:
            for snap in found:
                click.echo(f"{snap.id[:8]}  {snap.time.isoformat(timespec='seconds')}")
            return
        chosen = backups.choose(found, snapshot, when)
        before = backups.restore(conn, site, chosen)
    click.echo(f"{site.domain}: restored from {chosen.id[:8]}"
               f" ({chosen.time.isoformat(timespec='seconds')})")
    _say_undo(site.domain, before, env, inventory_dir)


def _say_undo(domain: str, snapshots: list[str], env: str, inventory_dir: Path | None) -> None:
    """How to get back what a command replaced: the verified archive it took first."""
    where = f" --inventory {shlex.quote(str(inventory_dir))}" if inventory_dir else ""
    for snap in snapshots:
        click.echo(f"{domain}: what was replaced is in verified snapshot {snap[:8]}; to undo:"
                   f" koumbit-infra site restore {domain} --env {env}{where} --snapshot {snap}")


@site_group.command("clone")
@env_option
@inventory_option
@click.argument("domain")
@click.argument("new_domain")
@click.option("--force", is_flag=True,
              help="Replace NEW_DOMAIN's content (archived and verified first).")
def clone_command(
    *, env: str, inventory_dir: Path | None, domain: str, new_domain: str, force: bool,
) -> None:
    """Copy DOMAIN's content onto NEW_DOMAIN (another site, on any server; for a site's
    staging copy, see `site staging`).

    NEW_DOMAIN must be in the inventory and deployed; it keeps its own user,
    database, secrets and configuration. If it already has content (a deployed
    WordPress has its tables), nothing is done without --force; with it, that
    content is archived and verified first, and the command to undo is printed.
    """
    from koumbit_infra.remote import connect
    from koumbit_infra.sites import copy, selection

    inv = open_inventory(env, inventory_dir)
    src, dst = selection.one(inv, domain), selection.one(inv, new_domain)
    if src.name == dst.name:
        raise SiteCommandError("a site cannot be cloned onto itself", 2)
    if src.staging_of is not None and dst.staging_of is None:
        raise SiteCommandError(
            f"{src.domain} is the staging copy of {src.staging_of}: nothing copies a staging"
            f" copy over a site of its own ({dst.domain}); carry changes over by the site's"
            " own means (its code through SFTP or git, its content through its admin)", 2)
    with connect(inv, src.placed.site.server) as a, connect(inv, dst.placed.site.server) as b:
        before = copy.copy_content(a, src, b, dst, force=force)
    click.echo(f"{src.domain} copied onto {dst.domain}")
    _say_undo(dst.domain, before, env, inventory_dir)


@site_group.command("migrate")
@env_option
@inventory_option
@click.argument("domain")
@click.option("--to", "target", required=True, help="Web server to move the site to.")
@click.option("--force", is_flag=True,
              help="Even if TARGET already has this site (its copy there is archived first).")
def migrate_command(
    *, env: str, inventory_dir: Path | None, domain: str, target: str, force: bool,
) -> None:
    """Move DOMAIN to another server: copy, verify there, disable (keep) the source.

    The site is created on the target from a scratch copy of the inventory,
    its content copied, its home page checked on the target with its Host
    header; then the source copy is disabled (maintenance page, nothing
    deleted). Afterwards: set ``server:`` to the target in the client's file
    and point DNS at the target. A target that already holds the site is
    refused unless --force (its copy there is then archived and verified).
    """
    from koumbit_infra.sites import migrate, selection

    inv = open_inventory(env, inventory_dir)
    site = selection.one(inv, domain)
    if site.staging_of is not None:
        raise SiteCommandError(f"{site.domain} is the staging copy of {site.staging_of}: it"
                               " lives on its site's server; migrate that site instead", 2)
    copy = inv.staging_copy(site.placed)
    if copy is not None and copy.site.state is not SiteState.ABSENT:
        raise SiteCommandError(
            f"{site.domain} has a staging copy ({copy.site.domain}), which would stay behind"
            f" on {site.placed.site.server}: set 'staging: absent' in"
            f" {inv.root}/clients/{site.placed.client.slug}.yaml and deploy (it is archived,"
            " then removed), migrate, then make it again; nothing was done", 2)
    if target not in {s.name for s in inv.servers_with(Role.WEB)}:
        raise SiteCommandError(f"{target} is not a web server of '{env}'", 2)
    if site.placed.site.server == target:
        raise SiteCommandError(f"{domain} is already on {target}", 2)
    with tempfile.TemporaryDirectory(prefix="koumbit-migrate-") as tmp:
        report = migrate.migrate(inv, site, target, Path(tmp), ca_file=_ca_file(inv),
                                 say=click.echo, force=force)
    click.echo(report)


@site_group.command("verify")
@env_option
@inventory_option
@click.argument("domain")
def verify_command(env: str, inventory_dir: Path | None, domain: str) -> None:
    """Re-assert DOMAIN from the inventory; list what had drifted; check it answers."""
    from koumbit_infra.sites import selection
    from koumbit_infra.sites.verify import verify

    inv = open_inventory(env, inventory_dir)
    site = selection.one(inv, domain)
    verdict = verify(inv, pyinfra_inventory_file(env, inventory_dir), site, _ca_file(inv))
    for line in verdict.drift:
        click.echo(f"drift corrected: {line}")
    # A staging copy answers nobody without its password; a disabled site, its 503 page.
    expected = (401 if site.staging_of is not None
                else 503 if site.state is SiteState.DISABLED else 200)
    click.echo(f"{site.domain}: {len(verdict.drift)} drift(s); home page answers"
               f" {verdict.status} (expected {expected})")
    if verdict.status != expected:
        sys.exit(1)


@site_group.command("sftp")
@env_option
@inventory_option
@click.argument("domain")
def sftp_command(env: str, inventory_dir: Path | None, domain: str) -> None:
    """What to tell DOMAIN's developers: their SFTP login, and who reaches it with which key
    (from the inventory; no server is contacted)."""
    from koumbit_infra.inventory.sshkeys import parse_public_key
    from koumbit_infra.sites import selection
    from koumbit_infra.sites.sftp import sftp_sites

    inv = open_inventory(env, inventory_dir)
    site = selection.one(inv, domain)
    server = inv.server(site.placed.site.server)
    found = [s for s in sftp_sites(inv, server) if s.site.domain == site.domain]
    if not found:
        click.echo(f"{site.domain}: personne n'y a accès par SFTP / nobody reaches it by SFTP"
                   f" (people: in clients/{site.placed.client.slug}.yaml)")
        return
    access = found[0]
    click.echo(f"{site.domain}: sftp {access.login}@{server.address}  (port 22;"
               f" docs/sftp-clients.md)")
    for person in access.people:
        for key in person.ssh_keys:
            parsed = parse_public_key(key)
            click.echo(f"  {person.name} ({person.full_name}): {parsed.kind}"
                       f" {parsed.fingerprint}")


@site_group.command("staging")
@env_option
@inventory_option
@click.argument("domain")
@click.option("--refresh", is_flag=True,
              help="Replace the staging copy's content with production's now (the staging"
                   " copy is archived and verified first).")
@click.option("--new-password", "password", is_flag=True,
              help="Make new credentials for the staging copy, shown once (alone, on a copy"
                   " already made: nothing else is done).")
def staging_command(*, env: str, inventory_dir: Path | None, domain: str, refresh: bool,
                    password: bool) -> None:
    """Copy DOMAIN's code, uploads and database into its staging copy, at its own address.

    The staging copy is the site's ``staging: active`` in its client's file, made by the
    sites deploy (its own user, database, secrets, certificate, and a vhost behind a
    password that says noindex). The first copy shows the password, once; a copy already
    made is replaced only with --refresh, after a verified archive of it. Nothing copies
    staging over production.
    """
    from koumbit_infra.remote import connect
    from koumbit_infra.sites import staging
    from koumbit_infra.sites.layout import STAGING_USER

    inv = open_inventory(env, inventory_dir)
    site, copy = staging.pair(inv, domain)
    with connect(inv, site.placed.site.server) as conn:
        done = staging.copy_into_staging(conn, site, copy, refresh=refresh, password=password)
    if done.copied:
        click.echo(f"{site.domain} copied into its staging copy {copy.url}/")
    if done.password is not None:
        click.echo(f"  identifiant / login: {STAGING_USER}\n"
                   f"  mot de passe / password: {done.password}\n"
                   "  Affiché cette fois seulement : à donner aux développeur·euses du client."
                   " / Shown this once: give it to the client's developers; it is kept"
                   " nowhere else (a new one: --new-password).")
    _say_undo(copy.domain, done.archives, env, inventory_dir)


@site_group.command("update")
@env_option
@inventory_option
@click.argument("selector", metavar="SEL")
@click.option("--to", "version", default=None,
              help="Core version to go to (default: koumbit-site-code's, the source's current"
                   " security release); the selection must then hold one CMS.")
@click.option("--dry", is_flag=True,
              help="Only show the version each site would go from and to; change nothing.")
def update_command(*, env: str, inventory_dir: Path | None, selector: str,
                   version: str | None, dry: bool) -> None:
    """Update the core of the sites SEL picks, each proven and rolled back on failure.

    Per site, on its server, under its lock: a verified snapshot (code and database;
    nothing is done if it fails), the code (koumbit-site-code), the database updates
    (drush updatedb and cache:rebuild; WordPress's own upgrade, as the site's user), and
    a smoke test through nginx with the site's own name and TLS: the home page answers
    200 with its title as before, the login page answers. If a step fails, the site goes
    back to the snapshot on its own. A site already up to date is left alone (no
    snapshot). One site at a time per server; servers in parallel. Exit 1 if any site
    failed or was rolled back.
    """
    import threading

    from koumbit_infra.sites.selection import select
    from koumbit_infra.sites.update import (
        Outcome,
        check_version,
        outcome_lines,
        reach_servers,
        summary,
        update_sites,
    )

    inv = open_inventory(env, inventory_dir)
    sites = select(inv, selector)
    check_version(version, sites)
    speaking = threading.Lock()

    def say(outcome: Outcome) -> None:
        with speaking:
            for line in outcome_lines(outcome):
                click.echo(line)

    outcomes = update_sites(sites, version=version, dry=dry, reach=reach_servers(inv), say=say)
    for line in summary(outcomes, dry):
        click.echo(line)
    if not all(o.result.ok for o in outcomes):
        sys.exit(1)


@click.command("run", context_settings={"ignore_unknown_options": True})
@env_option
@inventory_option
@click.option("--sites", "selector", required=True, help="Which sites (see below).")
@click.option("--parallel", default=8, show_default=True, help="Sites at once.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    *, env: str, inventory_dir: Path | None, selector: str, parallel: int,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND as each selected site's user, in its code folder, in parallel.

    Example: koumbit-infra run --sites cms:wordpress -- php wp-cron.php
    """
    from koumbit_infra.sites.runner import run_on_sites
    from koumbit_infra.sites.selection import select

    inv = open_inventory(env, inventory_dir)
    results = run_on_sites(inv, select(inv, selector), shlex.join(command), parallel)
    for r in results:
        mark = "ok" if r.result.ok else f"FAILED (exit {r.result.exit_code})"
        click.echo(f"== {r.domain} ({r.server}): {mark}")
        for text in (r.result.stdout, r.result.stderr):
            if text.strip():
                click.echo(text.rstrip())
    failed = sum(not r.result.ok for r in results)
    click.echo(f"{len(results) - failed} ok, {failed} failed")
    if failed:
        sys.exit(1)


@click.group("sites")
def sites_group() -> None:
    """What every site runs and the advisories open against it."""


@sites_group.command("status")
@env_option
@inventory_option
@click.option("--sites", "selector", default="all", show_default=True,
              help="Which sites (as for `run --sites`).")
@click.option("--json", "as_json", is_flag=True, help="Print the statuses as JSON.")
def status_command(*, env: str, inventory_dir: Path | None, selector: str,
                   as_json: bool) -> None:
    """One line per site: CMS and core version, PHP, state, last update, open advisories
    by severity (from its server's audit.json and update.json; exit 1 if one could not be
    read)."""
    import json

    from koumbit_infra.sites.selection import select
    from koumbit_infra.sites.status import as_rows, gather, render_table

    inv = open_inventory(env, inventory_dir)
    statuses = gather(inv, select(inv, selector))
    if as_json:
        click.echo(json.dumps(as_rows(statuses), indent=2, ensure_ascii=False))
    else:
        click.echo(render_table(statuses), nl=False)
    if any(s.problems for s in statuses):
        sys.exit(1)


@sites_group.command("advisories")
@env_option
@inventory_option
@click.option("--sites", "selector", default="all", show_default=True,
              help="Which sites (as for `run --sites`).")
@click.option("--format", "fmt", type=click.Choice(["text", "html", "csv"]), default="text",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report there instead of printing it.")
def advisories_command(*, env: str, inventory_dir: Path | None, selector: str, fmt: str,
                       output: Path | None) -> None:
    """The affected sites grouped by advisory, with clients and contacts, in French then
    English: ready to send (text for an e-mail, html, csv)."""
    from datetime import UTC
    from datetime import datetime as clock

    from koumbit_infra.advisories.report import RENDERERS
    from koumbit_infra.sites.selection import select
    from koumbit_infra.sites.status import gather

    inv = open_inventory(env, inventory_dir)
    text = RENDERERS[fmt](gather(inv, select(inv, selector)), clock.now(UTC))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{output}")


def _selector_help() -> None:
    import inspect

    from koumbit_infra.sites.selection import SELECTOR_HELP

    run_command.help = (run_command.help or "") + "\n\nSITES: " + SELECTOR_HELP
    # cleandoc first: the appended line has no indent, which would keep the docstring's.
    update_command.help = inspect.cleandoc(update_command.help or "") + "\n\nSEL: " + SELECTOR_HELP


_selector_help()
