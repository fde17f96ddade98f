"""The inventory, as typed and frozen models.

Field descriptions are the inventory reference: ``koumbit-infra reference``
prints them, and the README's reference is generated from them.
Derived values (system names, reserved resources, monthly costs) are
properties here, never computed in templates or YAML.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from koumbit_infra.inventory.fields import (
    AbsolutePath,
    AcmeDirectory,
    AptProxy,
    Day,
    Domain,
    Email,
    FiscalYear,
    HttpsBaseUrl,
    Label,
    Login,
    MailRelay,
    Name,
    Note,
    PersonName,
    Phone,
    PhpVersion,
    ServerAddress,
    Slug,
    SshKey,
    StagingName,
    TimeZone,
    Title,
    WebhookUrl,
    at_least_one,
)
from koumbit_infra.inventory.money import Cad, Quantity
from koumbit_infra.inventory.names import system_name
from koumbit_infra.releases import (
    DEFAULT_DEBIAN,
    RELEASES,
    Debian,
    Php,
    Release,
    release,
    releases_shipping,
)

GIB = 1024**3
# The error type of a PHP version the server's release does not ship (see pydantic_problems).
PHP_NOT_SHIPPED = "php_not_shipped"
MIB = 1024**2
MAX_QUOTA_GIB = 1_000_000


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


# --- servers.yaml ---------------------------------------------------------


class Role(StrEnum):
    WEB = "web"
    DB = "db"
    BACKUP = "backup"
    MONITOR = "monitor"


class Size(_Model):
    cpus: int = Field(gt=0, le=1024, description="CPU cores.")
    memory_gib: int = Field(gt=0, le=65536, description="Memory, GiB.")
    disk_gib: int = Field(gt=0, le=1_000_000, description="Disk for sites and data, GiB.")


class ServerCost(_Model):
    """Either a monthly price (rented) or a purchase amortised over months plus hosting."""

    monthly_cad: Cad | None = Field(None, description="Monthly rent or hosting, CAD/month.")
    purchase_cad: Cad | None = Field(None, description="Purchase price, CAD (owned hardware).")
    amortisation_months: int | None = Field(
        None, gt=0, le=240, description="Months over which the purchase is spread."
    )
    hosting_monthly_cad: Cad = Field(
        Decimal(0), description="Colocation, power and transit of owned hardware, CAD/month."
    )

    @model_validator(mode="after")
    def _one_way(self) -> ServerCost:
        owned = self.purchase_cad is not None or self.amortisation_months is not None
        if owned and (self.purchase_cad is None or self.amortisation_months is None):
            raise ValueError("give both purchase_cad and amortisation_months for owned hardware")
        if owned == (self.monthly_cad is not None):
            raise ValueError("give either monthly_cad, or purchase_cad with amortisation_months")
        return self

    @property
    def per_month_cad(self) -> Decimal:
        """Unrounded monthly cost in CAD (amortisation plus hosting, or the rent)."""
        if self.monthly_cad is not None:
            return self.monthly_cad
        assert self.purchase_cad is not None and self.amortisation_months is not None
        return self.purchase_cad / self.amortisation_months + self.hosting_monthly_cad


class Server(_Model):
    name: Name = Field(description="Short host name, unique (web1, db1 ...).")
    address: ServerAddress = Field(
        description="Address the toolkit reaches the server at by SSH (one host: not 0.0.0.0,"
                    " broadcast, multicast, loopback or link-local)."
    )
    roles: frozenset[Role] = Field(description="Any of web, db, backup, monitor.", min_length=1)
    size: Size
    cost: ServerCost
    debian: Debian = Field(
        DEFAULT_DEBIAN,
        description="Debian release the server runs (12 or 13); packages, paths and PHP"
                    " follow it.",
    )
    php_versions: Annotated[tuple[PhpVersion, ...], AfterValidator(at_least_one)] = Field(
        (), max_length=8,
        description="PHP versions offered on a web server, each shipped by its Debian release;"
                    " the first is the default (default: the release's PHP, 8.2 on 12, 8.4"
                    " on 13).",
    )
    database_server: Name | None = Field(
        None,
        description="Server with the db role that this web server's sites use"
        " (default: itself when it has the db role).",
    )
    since: Day | None = Field(None, description="Date the server entered service.")

    @model_validator(mode="before")
    @classmethod
    def _release_php(cls, data: Any) -> Any:
        """A server that names no PHP offers the one its Debian release ships."""
        if not isinstance(data, dict) or "php_versions" in data:
            return data
        try:
            php = release(int(data.get("debian", DEFAULT_DEBIAN))).php.version
        except (TypeError, ValueError):
            return data  # the bad release is reported on its own line
        return {**data, "php_versions": (php,)}

    @field_validator("php_versions")
    @classmethod
    def _shipped(cls, versions: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        debian = info.data.get("debian")
        if debian is None:
            return versions  # an unknown release already has its own problem
        rel = RELEASES[debian]
        for version in versions:
            if not rel.ships_php(version):
                others = [r.name for r in releases_shipping(version)]
                elsewhere = f"; {' and '.join(others)} ships it" if others else ""
                raise PydanticCustomError(
                    PHP_NOT_SHIPPED,
                    f"offers PHP {version}, which {rel.name} does not ship (it has"
                    f" {', '.join(rel.php_versions)}){elsewhere}")
        return versions

    @property
    def release(self) -> Release:
        """What the server's Debian release provides (packages, paths, versions)."""
        return RELEASES[self.debian]

    @property
    def php(self) -> tuple[Php, ...]:
        """The PHP versions it offers, as Debian packages them (the default first)."""
        return tuple(Php(v) for v in self.php_versions)

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def database_host(self) -> str | None:
        """Name of the server holding the databases of this server's sites."""
        if self.database_server:
            return self.database_server
        return self.name if Role.DB in self.roles else None

    @property
    def disk_bytes(self) -> int:
        return self.size.disk_gib * GIB

    @property
    def memory_bytes(self) -> int:
        return self.size.memory_gib * GIB


class Admin(_Model):
    name: Login = Field(
        description="Unix login of an Infra team member (never a system account's name)."
    )
    full_name: PersonName = Field(
        description="Person's name, for the account's GECOS field (no : , or =)."
    )
    ssh_keys: Annotated[tuple[SshKey, ...], AfterValidator(at_least_one)] = Field(
        max_length=16,
        description="Public SSH keys, one line each (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp*,"
                    " sk-*); a key belongs to one admin only.",
    )


LETSENCRYPT_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"


PACKAGIST = "https://repo.packagist.org"
WORDPRESS_SOURCE = "https://sources.koumbit.net/wordpress"


class Codebases(_Model):
    """Where the sites' code comes from: the only codebase settings the lab changes."""

    wordpress_source: HttpsBaseUrl = Field(
        WORDPRESS_SOURCE,
        description="Base URL (https) of the WordPress releases the sites get: it serves"
                    " releases.json, wordpress-VERSION.tar.gz and its .sha256. Production: the"
                    " team's mirror of wordpress.org's releases, each checked against"
                    " wordpress.org's checksum (docs/codebases.md); the lab: the lab host.")
    composer_repositories: Annotated[tuple[HttpsBaseUrl, ...], AfterValidator(at_least_one)] = (
        Field((PACKAGIST,), max_length=10,
              description="Composer repositories (https) the Drupal sites' composer reads, in"
                          " order; packagist is used only when listed (default: packagist"
                          " alone). A private mirror goes first."))
    advisory_alert_days: int = Field(
        7, ge=1, le=90,
        description="Days a critical (or unrated) security advisory may stay open on a site"
                    " before it alerts.")


class Settings(_Model):
    apt_proxy: AptProxy | None = Field(
        None, description="HTTP proxy for apt (an apt cache): http(s)://host[:port] only."
    )
    acme_directory: AcmeDirectory = Field(
        LETSENCRYPT_DIRECTORY,
        description="ACME directory certbot gets the sites' certificates from (https only):"
                    " Let's Encrypt by default; the lab's Pebble in the lab.",
    )
    acme_ca_bundle: AbsolutePath | None = Field(
        None,
        description="PEM file, on the machine that deploys, of the CAs every server trusts"
                    " besides Debian's (the ACME server's own and the root it issues from);"
                    " unset for Let's Encrypt.",
    )
    admin_email: Email = Field(description="Where certificate and alert mail goes.")
    ssh_user: Name = Field("root", description="User the deploys connect as.")
    trusted_ssh_sources: tuple[IPvAnyNetwork, ...] = Field(
        (), max_length=50,
        description="Networks the deploys and admins connect from (CIDR): fail2ban never bans"
                    " them and sshd does not penalise them (Debian 13), so a busy deploy"
                    " cannot lock the team out.")
    lab: bool = Field(
        False, description="Servers are the local lab's containers (SSH with the lab's own key)."
    )
    backup_verify_interval_days: int = Field(
        7, ge=1, le=7,
        description="Days between two proven restores of each site on each backup target, and"
                    " two full checks of each repository (1 to 7: an alert fires when a site's"
                    " last proven restore is older than 8 days).")
    staging_name: StagingName = Field(
        "staging.{domain}",
        description="Name of every site's staging copy (a site with staging: set): {domain}"
                    " is the site's domain, {label} the same with dashes for dots, for a name"
                    " under the host's own domain ('{label}.staging.koumbit.net'). DNS must"
                    " point it at the site's server.")
    codebases: Codebases = Field(
        Codebases(), description="Where the sites' code comes from (WordPress releases,"
                                 " composer repositories) and how long an advisory may stay"
                                 " open.")
    backup_check_read_data_percent: int = Field(
        100, ge=1, le=100,
        description="Share of a repository's pack files that its check reads back and"
                    " verifies, percent (restic check --read-data-subset).")


class Concern(StrEnum):
    """What an alert is about: its ``concern`` label, on which alerts are routed."""

    CAPACITY = "capacity"  # disks, quotas, PHP workers, room for new sites
    SITES = "sites"  # a site as its visitors see it (probes from outside)
    BACKUPS = "backups"
    BUDGET = "budget"  # costs and the Infra budget
    SERVERS = "servers"  # a server or its monitoring agents not answering


class AlertSeverity(StrEnum):
    """An alert's ``severity`` label."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Receiver(_Model):
    """Who hears of an alert: e-mail addresses, and optionally a webhook."""

    name: Name = Field(description="Receiver identifier, used by routes (infra, finances ...).")
    emails: Annotated[tuple[Email, ...], AfterValidator(at_least_one)] = Field(
        max_length=20, description="Addresses that get its alert e-mails (at least one).")
    webhook_url: WebhookUrl | None = Field(
        None, description="http(s) URL that also gets each notice, as Alertmanager's JSON"
                          " (alertmanager-irc-relay, a chat bridge).")


class AlertRoute(_Model):
    """Alerts sent to a receiver other than the first: those of these concerns and severities."""

    receiver: Name = Field(description="Name of a receiver listed in receivers.")
    concerns: tuple[Concern, ...] = Field(
        (), max_length=5,
        description="Alerts of any of these concerns (default: any): capacity, sites,"
                    " backups, budget, servers.")
    severities: tuple[AlertSeverity, ...] = Field(
        (), max_length=3,
        description="Alerts of any of these severities (default: any): critical, warning,"
                    " info.")

    @model_validator(mode="after")
    def _selects(self) -> AlertRoute:
        if not self.concerns and not self.severities:
            raise ValueError("a route names concerns, severities or both; the first receiver"
                             " already gets every alert no route takes")
        return self


class Alerting(_Model):
    """Where alerts go, and how the monitoring servers send their mail."""

    receivers: tuple[Receiver, ...] = Field(
        min_length=1, max_length=20,
        description="Who hears of alerts; the first gets every alert that no route takes.")
    routes: tuple[AlertRoute, ...] = Field(
        (), max_length=50,
        description="Tried in order: an alert goes to the receiver of the first route it"
                    " matches.")
    sender: Email | None = Field(
        None, description="From address of alert e-mails (default: settings.admin_email).")
    smarthost: MailRelay | None = Field(
        None, description="Relay (host[:port]) the monitoring servers send their mail"
                          " through; without it they deliver to each domain's mail server.")
    local_domains: tuple[Domain, ...] = Field(
        (), max_length=10,
        description="Mail domains the monitoring servers keep: every address of them lands"
                    " in the local mailbox /var/mail/alertes (the lab's koumbit-lab.test).")

    @classmethod
    def to_admin(cls, admin_email: str) -> Alerting:
        """Every alert by e-mail to ``admin_email`` (an inventory without ``alerting:``)."""
        return cls(receivers=(Receiver(name="infra", emails=(admin_email,)),))


class ServersFile(_Model):
    settings: Settings
    admins: tuple[Admin, ...] = Field(min_length=1, max_length=100)
    servers: tuple[Server, ...] = Field(min_length=1, max_length=1000)
    alerting: Alerting | None = Field(
        None, description="Where alerts go (default: every alert to settings.admin_email).")


# --- plans.yaml -----------------------------------------------------------


class EarlierPrice(_Model):
    """A price that was in force until a date (exclusive); the current price is the main key."""

    until: Day = Field(description="First day the next price applied.")
    monthly_price_cad: Cad = Field(description="The price before that day, CAD/month.")


def _check_history(history: tuple[EarlierPrice, ...]) -> tuple[EarlierPrice, ...]:
    days = [h.until for h in history]
    if days != sorted(set(days)):
        raise ValueError("price_history must list different 'until' dates, oldest first")
    return history


def _price_on(current: Decimal, history: tuple[EarlierPrice, ...], day: date) -> Decimal:
    for earlier in history:
        if day < earlier.until:
            return earlier.monthly_price_cad
    return current


PriceHistory = Annotated[
    tuple[EarlierPrice, ...], Field(max_length=120), AfterValidator(_check_history)
]


class Plan(_Model):
    name: Name = Field(description="Plan identifier used by clients.")
    label_fr: Label = Field(description="Plan name shown in French reports.")
    label_en: Label = Field(description="Plan name shown in English reports.")
    monthly_price_cad: Cad = Field(description="List price, CAD/month.")
    disk_quota_gib: int = Field(gt=0, le=MAX_QUOTA_GIB, description="Disk quota per site, GiB.")
    php_workers: int = Field(gt=0, le=256, description="PHP-FPM max_children per site.")
    php_memory_limit_mib: int = Field(
        256, gt=0, le=8192, description="PHP memory_limit per worker, MiB."
    )
    cpu_cores_reserved: Quantity = Field(
        Decimal("0.1"), description="CPU cores reserved per site, for the cost model."
    )
    backups_kept_daily: int = Field(7, ge=1, le=366, description="Daily backups kept.")
    backups_kept_weekly: int = Field(4, ge=0, le=520, description="Weekly backups kept.")
    backups_kept_monthly: int = Field(3, ge=0, le=120, description="Monthly backups kept.")
    staging_monthly_price_cad: Cad = Field(
        Decimal(0), description="Price of each staging copy of a client's site, CAD/month,"
                                " added to the client's list price and price paid.")
    price_history: PriceHistory = Field(
        (), description="Earlier list prices, oldest first (monthly_price_cad is the current one)."
    )

    def price_on(self, day: date) -> Decimal:
        """List price in force on ``day``, CAD/month."""
        return _price_on(self.monthly_price_cad, self.price_history, day)

    def price_changes_within(self, start: date, end: date) -> tuple[date, ...]:
        """Days in [start, end) on which the list price changed."""
        return tuple(h.until for h in self.price_history if start < h.until < end)

    @property
    def memory_reserved_bytes(self) -> int:
        return self.php_workers * self.php_memory_limit_mib * MIB


class PlansFile(_Model):
    plans: tuple[Plan, ...] = Field(min_length=1, max_length=100)


# --- clients/<slug>.yaml --------------------------------------------------


class Cms(StrEnum):
    WORDPRESS = "wordpress"
    DRUPAL = "drupal"


class SiteState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    ABSENT = "absent"


class Site(_Model):
    domain: Domain = Field(description="Primary (canonical) domain.")
    aliases: tuple[Domain, ...] = Field(
        (), max_length=100, description="Other domains, redirected to it."
    )
    cms: Cms = Field(description="wordpress or drupal.")
    server: Name = Field(description="Web server the site lives on.")
    php_version: PhpVersion | None = Field(None, description="Default: the server's first.")
    state: SiteState = Field(SiteState.ACTIVE, description="active, disabled or absent.")
    title: Title | None = Field(None, description="Site title (default: the client's name).")
    tls: bool = Field(True, description="Serve over HTTPS (certificate from the env's CA).")
    disk_quota_gib: int | None = Field(
        None, gt=0, le=MAX_QUOTA_GIB, description="Override of the plan's quota."
    )
    backups_kept_daily: int | None = Field(None, ge=1, le=366, description="Plan override.")
    staging: SiteState | None = Field(
        None,
        description="A staging copy of the site, for its developers to try changes on, named"
                    " by settings.staging_name, on the same server, with its own user,"
                    " database, secrets, certificate, password and noindex: active, disabled,"
                    " or absent (archived, then removed); none by default.")

    @cached_property
    def system_name(self) -> str:
        """Unix user, PHP-FPM pool, database and database user of this site."""
        return system_name(self.domain)

    @property
    def unix_user(self) -> str:
        return self.system_name

    @property
    def pool_name(self) -> str:
        return self.system_name

    @property
    def db_name(self) -> str:
        return self.system_name

    @property
    def db_user(self) -> str:
        return self.system_name

    @property
    def all_domains(self) -> tuple[str, ...]:
        return (self.domain, *self.aliases)


class Contact(_Model):
    name: Label = Field(description="The contact person's name.")
    email: Email = Field(description="The contact's e-mail address.")
    phone: Phone | None = Field(None, description="Phone number (514 555-0100 poste 22).")


class Solidarity(_Model):
    since: Day = Field(description="Date the solidarity account started.")
    note: Note | None = Field(None, description="Why (for the Conseil de Travail).")


class Person(_Model):
    """Someone working on the client's sites (a web developer) who reaches some of them by
    SFTP, chrooted to each site's files, with no shell."""

    name: Name = Field(
        description="Identifier of the person in this client's file (amelie, dev-externe):"
                    " named in the servers' key files and in the README's examples.")
    full_name: PersonName = Field(description="The person's name, as the key files show it.")
    ssh_keys: Annotated[tuple[SshKey, ...], AfterValidator(at_least_one)] = Field(
        max_length=16,
        description="Public SSH keys, one line each, without options (ssh-ed25519, ssh-rsa,"
                    " ecdsa-sha2-nistp*, sk-*); a key belongs to one person of the client.")
    sites: Annotated[tuple[Domain, ...], AfterValidator(at_least_one)] = Field(
        max_length=1000,
        description="Primary domains of this client's sites the person reaches by SFTP (each"
                    " site's code, uploads and logs; never its secrets nor another site).")


class Client(_Model):
    slug: Slug = Field(description="Identifier; must equal the file name without .yaml.")
    name: Title = Field(description="Organisation's name, as shown in reports.")
    plan: Name = Field(description="Plan name from plans.yaml.")
    monthly_price_paid_cad: Cad = Field(description="Price actually paid, CAD/month.")
    solidarity: Solidarity | None = Field(None, description="Set for a compte solidaire.")
    member: bool = Field(False, description="Member of the collective.")
    since: Day | None = Field(None, description="Client since.")
    contact: Contact
    sites: tuple[Site, ...] = Field((), max_length=1000, description="The client's sites.")
    people: tuple[Person, ...] = Field(
        (), max_length=100,
        description="People who reach some of the client's sites by SFTP (its web developers).")
    price_history: PriceHistory = Field(
        (), description="Earlier prices paid, oldest first (monthly_price_paid_cad is current)."
    )

    def paid_on(self, day: date) -> Decimal:
        """Price the client paid on ``day``, CAD/month."""
        return _price_on(self.monthly_price_paid_cad, self.price_history, day)

    @property
    def is_solidarity(self) -> bool:
        return self.solidarity is not None

    @property
    def staging_copies(self) -> int:
        """Staging copies of its sites that exist (active or disabled): each is charged at
        its plan's staging_monthly_price_cad."""
        return sum(s.staging not in (None, SiteState.ABSENT) for s in self.sites)


# --- budget.yaml ----------------------------------------------------------


class BudgetCategory(StrEnum):
    BACKUP_STORAGE = "backup_storage"
    TRANSIT = "transit"
    DOMAINS = "domains"
    SOFTWARE = "software"
    STAFF_HOURS = "staff_hours"
    HARDWARE = "hardware"


class SharedPolicy(StrEnum):
    BY_RESERVED = "by_reserved"  # in proportion to each site's direct cost
    PER_SITE = "per_site"  # the same share for every active site
    PER_CLIENT = "per_client"  # the same share for every client, split over its sites


class BudgetLine(_Model):
    name: Label = Field(description="Line label (French), as shown in reports.")
    name_en: Label | None = Field(None, description="Line label in English.")
    category: BudgetCategory
    monthly_cad: Cad | None = Field(None, description="Fixed cost, CAD/month.")
    yearly_cad: Cad | None = Field(None, description="Fixed cost, CAD/fiscal year.")
    hours_per_month: Quantity | None = Field(None, description="Staff hours per month.")
    hourly_rate_cad: Cad | None = Field(None, description="Staff rate, CAD/hour.")

    @model_validator(mode="after")
    def _one_amount(self) -> BudgetLine:
        staff = (self.hours_per_month, self.hourly_rate_cad)
        fixed = (self.monthly_cad, self.yearly_cad)
        if self.category is BudgetCategory.STAFF_HOURS:
            if None in staff or any(v is not None for v in fixed):
                raise ValueError("a staff_hours line gives hours_per_month and hourly_rate_cad")
        elif any(v is not None for v in staff) or sum(v is not None for v in fixed) != 1:
            raise ValueError("give exactly one of monthly_cad or yearly_cad")
        return self

    @property
    def per_month_cad(self) -> Decimal:
        """Unrounded monthly amount in CAD."""
        if self.hours_per_month is not None and self.hourly_rate_cad is not None:
            return self.hours_per_month * self.hourly_rate_cad
        if self.monthly_cad is not None:
            return self.monthly_cad
        assert self.yearly_cad is not None
        return self.yearly_cad / 12


class Budget(_Model):
    fiscal_year: FiscalYear = Field(description="Fiscal year named like '2026-2027'.")
    start_month: int = Field(ge=1, le=12, description="Month (1-12) the fiscal year starts.")
    allocated_cad: Cad = Field(description="Amount the Conseil de Travail allocated to Infra.")
    timezone: TimeZone = Field(
        "America/Toronto",
        description="Time zone of the accounting months (IANA name): a month's usage is read"
                    " from its first midnight there to the next month's.",
    )
    shared_policy: SharedPolicy = Field(
        SharedPolicy.BY_RESERVED,
        description="How shared lines are spread: by_reserved, per_site or per_client.",
    )
    lines: tuple[BudgetLine, ...] = Field((), max_length=200, description="Shared cost lines.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"'{value}' is not a time zone name such as America/Toronto"
                             " (the IANA tz database)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> date:
        return date(int(self.fiscal_year[:4]), self.start_month, 1)

    @property
    def end(self) -> date:
        """First day after the fiscal year."""
        return date(int(self.fiscal_year[:4]) + 1, self.start_month, 1)


class ServerOffer(_Model):
    """A server the team would buy or rent next, with what it costs (for budget proposals)."""

    name: Name = Field(description="Identifier of the offer (web-standard ...).")
    label_fr: Label = Field(description="What it is, in French, as proposals show it.")
    label_en: Label = Field(description="What it is, in English.")
    roles: frozenset[Role] = Field(description="Roles it can take (web, db ...).", min_length=1)
    size: Size
    cost: ServerCost


class LineChange(_Model):
    """A known change in a shared line from a date (a new rate, more staff hours ...)."""

    line: Label = Field(description="The budget line's name (French), as in budget.lines.")
    since: Day = Field(description="First day the new amount applies.")
    monthly_cad: Cad | None = Field(None, description="New fixed cost, CAD/month.")
    yearly_cad: Cad | None = Field(None, description="New fixed cost, CAD/fiscal year.")
    hours_per_month: Quantity | None = Field(None, description="New staff hours per month.")
    hourly_rate_cad: Cad | None = Field(None, description="New staff rate, CAD/hour.")
    why: Note | None = Field(None, description="Where the change comes from (a quote ...).")

    @model_validator(mode="after")
    def _something(self) -> LineChange:
        given = (self.monthly_cad, self.yearly_cad, self.hours_per_month, self.hourly_rate_cad)
        if all(v is None for v in given):
            raise ValueError("give the new monthly_cad, yearly_cad, hours_per_month"
                             " or hourly_rate_cad")
        if self.monthly_cad is not None and self.yearly_cad is not None:
            raise ValueError("give monthly_cad or yearly_cad, not both")
        return self


class BudgetFile(_Model):
    budget: Budget
    catalogue: tuple[ServerOffer, ...] = Field(
        (), description="Servers the team would buy or rent, for budget proposals.")
    line_changes: tuple[LineChange, ...] = Field(
        (), description="Known changes in shared lines (staff hours, transit ...).")

