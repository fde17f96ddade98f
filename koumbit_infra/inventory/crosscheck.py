"""Checks that span files: references, duplicates, capacity. Each returns problems."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from koumbit_infra.inventory.models import (
    Client,
    Plan,
    PlansFile,
    Role,
    Server,
    ServersFile,
    Site,
    SiteState,
)
from koumbit_infra.inventory.problems import Problem, Severity
from koumbit_infra.inventory.sshkeys import parse_public_key
from koumbit_infra.inventory.staging import staging_site
from koumbit_infra.inventory.yamlsource import YamlDocument, YamlPath


@dataclass
class ParsedFiles:
    """Each file of an inventory, parsed, with the document it came from (for lines)."""

    servers: ServersFile
    servers_doc: YamlDocument
    plans: PlansFile
    plans_doc: YamlDocument
    clients: list[tuple[Client, YamlDocument]]


def cross_check(files: ParsedFiles) -> list[Problem]:
    """Every cross-file problem of an inventory whose files each parsed."""
    servers, sdoc, pdoc = files.servers, files.servers_doc, files.plans_doc
    out: list[Problem] = []
    out += _unique(sdoc, [(s.name, ("servers", i, "name")) for i, s in enumerate(servers.servers)],
                   "server name", "give each server its own name")
    out += _unique(sdoc, [(str(s.address), ("servers", i, "address"))
                          for i, s in enumerate(servers.servers)],
                   "server address", "give each server its own address")
    out += _unique(sdoc, [(a.name, ("admins", i, "name")) for i, a in enumerate(servers.admins)],
                   "admin name", "give each admin a different login")
    out += _unique(pdoc, [(p.name, ("plans", i, "name"))
                          for i, p in enumerate(files.plans.plans)],
                   "plan name", "give each plan its own name")
    out += _one_owner_per_key(servers, sdoc)
    out += _escrow_possible(servers, sdoc)
    out += _database_servers(servers, sdoc)
    out += _alert_receivers(servers, sdoc)
    pattern = servers.settings.staging_name
    sites = _SiteChecks(
        servers={s.name: s for s in servers.servers},
        plans={p.name: p for p in files.plans.plans},
        staging_name=pattern,
    )
    for client, doc in files.clients:
        sites.check_client(client, doc)
    owners = {d: (c.slug, doc.path) for c, doc in files.clients
              for s in _with_staging(c, pattern) for d in s.all_domains}
    for client, doc in files.clients:
        out += _people(client, doc, owners, pattern)
    return out + sites.problems + _overcommit(servers, sdoc, sites.committed)


def _unique(
    doc: YamlDocument, items: list[tuple[str, YamlPath]], what: str, hint: str
) -> list[Problem]:
    seen: dict[str, int] = {}
    out = []
    for value, loc in items:
        line = doc.line_of(loc)
        if value in seen:
            out.append(Problem(doc.path, line,
                               f"{what} '{value}' already used at line {seen[value]}", hint))
        else:
            seen[value] = line
    return out


def _one_owner_per_key(servers: ServersFile, doc: YamlDocument) -> list[Problem]:
    """A key is one person's: shared, it cannot be revoked from one admin alone."""
    return _keys_owned_once(doc, [(f"admin '{a.name}'", a.name, key, ("admins", i, "ssh_keys", j))
                                  for i, a in enumerate(servers.admins)
                                  for j, key in enumerate(a.ssh_keys)],
                            "give each admin their own key, listed once")


def _keys_owned_once(doc: YamlDocument, keys: list[tuple[str, str, str, YamlPath]],
                     hint: str) -> list[Problem]:
    """Each key of ``keys`` (who, owner's name, key, where) listed for one owner only."""
    owners: dict[str, tuple[str, int]] = {}
    out = []
    for who, name, key, loc in keys:
        line = doc.line_of(loc)
        identity = parse_public_key(key).identity
        if identity in owners:
            owner, at = owners[identity]
            out.append(Problem(doc.path, line, f"SSH key of {who} is already listed for"
                               f" '{owner}' at line {at}", hint))
        else:
            owners[identity] = (name, line)
    return out


def _with_staging(client: Client, pattern: str) -> list[Site]:
    """The client's sites and their staging copies (those whose name is a domain: the others
    are reported on their own line)."""
    out = []
    for site in client.sites:
        out.append(site)
        if site.staging is not None:
            try:
                out.append(staging_site(site, pattern))
            except ValueError:
                continue
    return out


def _people(client: Client, doc: YamlDocument,
            owners: dict[str, tuple[str, Path]], pattern: str) -> list[Problem]:
    """A client's people reach only the client's own sites that exist (staging copies
    included), each by its primary domain; a name and a key are one person's, so one can be
    removed without the others."""
    out = _unique(doc, [(p.name, ("people", i, "name")) for i, p in enumerate(client.people)],
                  "person name", "give each person of the client their own name")
    own = {s.domain: s for s in _with_staging(client, pattern)}
    for i, person in enumerate(client.people):
        who = f"person '{person.name}' of client '{client.slug}'"
        seen: set[str] = set()
        for j, domain in enumerate(person.sites):
            line = doc.line_of(("people", i, "sites", j))
            problem = _person_site(who, domain, own, owners, client.slug)
            if problem is None and domain in seen:
                problem = (f"{who} is given site '{domain}' twice", "list each site once")
            seen.add(domain)
            if problem is not None:
                out.append(Problem(doc.path, line, *problem))
    return out + _keys_owned_once(
        doc, [(f"person '{p.name}' of client '{client.slug}'", p.name, key,
               ("people", i, "ssh_keys", j))
              for i, p in enumerate(client.people) for j, key in enumerate(p.ssh_keys)],
        "give each person their own key, listed once: removing one person must not cut off"
        " another")


def _person_site(who: str, domain: str, own: dict[str, Site],
                 owners: dict[str, tuple[str, Path]], slug: str) -> tuple[str, str] | None:
    """What is wrong with giving ``domain`` to a person of client ``slug`` (message, hint)."""
    site = own.get(domain)
    if site is not None and site.state is SiteState.ABSENT:
        return (f"{who} is given site '{domain}', which is absent (being removed)",
                "remove it from the person's sites")
    if site is not None:
        return None
    owner = owners.get(domain)
    if owner is None:
        choices = ", ".join(sorted(own)) or "none: the client has no site"
        return (f"{who} is given site '{domain}', which is not a site of the client",
                f"name one of the client's sites by its primary domain ({choices})")
    other, path = owner
    if other != slug:
        return (f"{who} is given site '{domain}', which belongs to client '{other}'"
                f" (clients/{path.name})",
                "a person reaches only the sites of the client whose file names them:"
                " remove the site, or declare the person in that client's file")
    primary = next(d for d, s in own.items() if domain in s.all_domains)
    return (f"{who} is given '{domain}', an alias of site '{primary}'",
            f"name the site by its primary domain: {primary}")


# The key types age encrypts to (the backup escrow, koumbit_infra.serverconf.backup).
ESCROW_KEY_TYPES = ("ssh-ed25519", "ssh-rsa")


def _escrow_possible(servers: ServersFile, doc: YamlDocument) -> list[Problem]:
    """With a backup server, each repository password is escrowed to the admins' keys:
    age takes ed25519 and RSA keys only, so at least one admin must have one."""
    if not any(Role.BACKUP in s.roles for s in servers.servers):
        return []
    if any(key.split()[0] in ESCROW_KEY_TYPES for a in servers.admins for key in a.ssh_keys):
        return []
    return [Problem(doc.path, doc.line_of(("admins",)),
                    "no admin has an ssh-ed25519 or ssh-rsa key: the backups' repository"
                    " passwords cannot be escrowed (age encrypts to those types only)",
                    "add an ssh-ed25519 key for at least one admin")]


def _database_servers(servers: ServersFile, doc: YamlDocument) -> list[Problem]:
    by_name = {s.name: s for s in servers.servers}
    out = []
    for i, server in enumerate(servers.servers):
        if server.database_server is None:
            if Role.WEB in server.roles and Role.DB not in server.roles:
                out.append(Problem(
                    doc.path, doc.line_of(("servers", i, "name")),
                    f"web server '{server.name}' has no database server",
                    "add the db role or set database_server to a server with the db role",
                ))
            continue
        target = by_name.get(server.database_server)
        line = doc.line_of(("servers", i, "database_server"))
        if target is None:
            out.append(Problem(doc.path, line,
                               f"database_server '{server.database_server}' is not a server",
                               f"use one of: {', '.join(sorted(by_name))}"))
        elif Role.DB not in target.roles:
            out.append(Problem(doc.path, line, f"database_server '{target.name}' has no db role",
                               "give that server the db role or pick another"))
    return out


def _alert_receivers(servers: ServersFile, doc: YamlDocument) -> list[Problem]:
    """Receivers are named once, and a route sends to one of them."""
    if servers.alerting is None:
        return []
    receivers = servers.alerting.receivers
    out = _unique(doc, [(r.name, ("alerting", "receivers", i, "name"))
                        for i, r in enumerate(receivers)],
                  "receiver name", "give each receiver its own name")
    known = sorted({r.name for r in receivers})
    for i, route in enumerate(servers.alerting.routes):
        if route.receiver not in known:
            out.append(Problem(doc.path, doc.line_of(("alerting", "routes", i, "receiver")),
                               f"route to unknown receiver '{route.receiver}'",
                               f"use one of: {', '.join(known)}"))
    return out


@dataclass
class _SiteChecks:
    """Walks clients and their sites once, remembering what must be unique."""

    servers: dict[str, Server]
    plans: dict[str, Plan]
    staging_name: str  # settings.staging_name
    problems: list[Problem] = field(default_factory=list)
    committed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    slugs: dict[str, Path] = field(default_factory=dict)
    domains: dict[str, tuple[Path, int]] = field(default_factory=dict)
    names: dict[str, tuple[Path, int, str]] = field(default_factory=dict)

    def add(self, doc: YamlDocument, loc: YamlPath, message: str, hint: str) -> None:
        self.problems.append(Problem(doc.path, doc.line_of(loc), message, hint))

    def check_client(self, client: Client, doc: YamlDocument) -> None:
        if doc.path.stem != client.slug:
            self.add(doc, ("slug",), f"slug '{client.slug}' differs from the file name "
                     f"'{doc.path.name}'", f"rename the file to {client.slug}.yaml or fix the slug")
        if client.slug in self.slugs:
            self.add(doc, ("slug",), f"client slug '{client.slug}' already used by "
                     f"{self.slugs[client.slug]}", "give each client its own slug")
        self.slugs.setdefault(client.slug, doc.path)

        plan = self.plans.get(client.plan)
        if plan is None:
            self.add(doc, ("plan",), f"unknown plan '{client.plan}'",
                     f"use one of: {', '.join(sorted(self.plans))}")
        elif client.is_solidarity and client.monthly_price_paid_cad > plan.monthly_price_cad:
            self.add(doc, ("monthly_price_paid_cad",),
                     f"solidarity client pays {client.monthly_price_paid_cad} CAD/month, more "
                     f"than the list price of plan '{plan.name}' ({plan.monthly_price_cad})",
                     "lower the price paid, or remove 'solidarity' for a regular account")
        for i, site in enumerate(client.sites):
            self.check_site(site, ("sites", i), plan, doc)
            if site.staging is not None:
                self.check_staging(site, ("sites", i), plan, doc)

    def check_site(self, site: Site, at: YamlPath, plan: Plan | None, doc: YamlDocument) -> None:
        self.check_names(site, (*at, "domain"), at, doc)
        server = self.servers.get(site.server)
        if server is None:
            self.add(doc, (*at, "server"), f"unknown server '{site.server}'",
                     f"use one of: {', '.join(sorted(self.servers))}")
        elif Role.WEB not in server.roles:
            self.add(doc, (*at, "server"), f"server '{server.name}' has no web role",
                     "put the site on a server with the web role")
        else:
            self.check_placement(site, at, server, plan, doc)

    def check_names(self, site: Site, named_at: YamlPath, at: YamlPath,
                    doc: YamlDocument, what: str = "") -> None:
        """Domains and system name used once; ``named_at`` is where the primary domain is
        written (a staging copy's: its site's ``staging`` line)."""
        fresh = True
        for j, domain in enumerate(site.all_domains):
            loc = named_at if j == 0 else (*at, "aliases", j - 1)
            if domain in self.domains:
                other, other_line = self.domains[domain]
                self.add(doc, loc, f"{what}domain '{domain}' already used at"
                         f" {other}:{other_line}", "a domain or alias may appear only once")
                fresh = fresh and j > 0
            else:
                self.domains[domain] = (doc.path, doc.line_of(loc))
        # A repeated primary domain repeats its system name too: one message is enough.
        if fresh and site.system_name in self.names:
            other, other_line, other_domain = self.names[site.system_name]
            self.add(doc, named_at, f"{what}system name '{site.system_name}' clashes with "
                     f"site '{other_domain}' at {other}:{other_line}",
                     "rename one domain (names come from the domain)")
        elif fresh:
            self.names[site.system_name] = (doc.path, doc.line_of(named_at), site.domain)

    def check_staging(self, site: Site, at: YamlPath, plan: Plan | None,
                      doc: YamlDocument) -> None:
        """The staging copy of ``site``: a domain of its own, used once; it takes a quota
        on the site's server like any site (the site's own problems are reported once)."""
        where = (*at, "staging")
        if site.state is SiteState.ABSENT and site.staging is not SiteState.ABSENT:
            self.add(doc, where, f"site '{site.domain}' is absent but its staging copy is"
                     f" {site.staging}", "set staging: absent too (it is archived, then"
                     " removed), or keep the site")
        try:
            copy = staging_site(site, self.staging_name)
        except ValueError as exc:
            self.add(doc, where, f"the staging copy of '{site.domain}' cannot be named by"
                     f" settings.staging_name '{self.staging_name}': {exc}",
                     "change staging_name in servers.yaml, or remove this site's staging")
            return
        self.check_names(copy, where, where, doc, f"staging copy of '{site.domain}': ")
        server = self.servers.get(site.server)
        quota = site.disk_quota_gib or (plan.disk_quota_gib if plan else None)
        if (server is not None and Role.WEB in server.roles and quota is not None
                and quota <= server.size.disk_gib and copy.state is not SiteState.ABSENT):
            self.committed[server.name] += quota

    def check_placement(
        self, site: Site, at: YamlPath, server: Server, plan: Plan | None, doc: YamlDocument
    ) -> None:
        # A web server without a reachable database is reported once, on the server.
        if site.php_version and site.php_version not in server.php_versions:
            rel = server.release
            hint = ("pick an offered version or add it to the server's php_versions"
                    if rel.ships_php(site.php_version) else
                    f"{rel.name} has PHP {rel.php.version}: remove php_version (the server's"
                    f" default applies) or set {rel.php.version}, after checking the site"
                    f" runs on it")
            self.add(doc, (*at, "php_version"),
                     f"PHP {site.php_version} is not offered on '{server.name}' "
                     f"(offers {', '.join(server.php_versions)})", hint)
        quota = site.disk_quota_gib or (plan.disk_quota_gib if plan else None)
        if quota is None:
            return
        if quota > server.size.disk_gib:
            where = "disk_quota_gib" if site.disk_quota_gib else "server"
            self.add(doc, (*at, where), f"quota {quota} GiB is larger than the disk of "
                     f"'{server.name}' ({server.size.disk_gib} GiB)",
                     "lower the quota or move the site to a larger server")
        elif site.state is not SiteState.ABSENT:
            self.committed[server.name] += quota


def _overcommit(
    servers: ServersFile, doc: YamlDocument, committed: dict[str, int]
) -> list[Problem]:
    """Warnings, not errors: quotas are promises, and most sites never fill theirs."""
    return [
        Problem(
            doc.path, doc.line_of(("servers", i, "size", "disk_gib")),
            f"sites on '{s.name}' are promised {committed[s.name]} GiB of quota, more than its "
            f"{s.size.disk_gib} GiB disk",
            "watch its disk usage, or move sites to another server",
            Severity.WARNING,
        )
        for i, s in enumerate(servers.servers)
        if committed[s.name] > s.size.disk_gib
    ]
