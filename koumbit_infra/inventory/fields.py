"""The inventory's value types: each refuses what could harm a file, a shell or a reader.

Every string of the inventory has one of these types (a unit test walks the
models to prove it). Patterns are matched whole (``fullmatch``: ``$`` would let
a trailing line break through), on ASCII only (``\\d`` also matches Arabic and
full-width digits), and each type has a maximum length. Domains are stored in
one canonical spelling, so that the uniqueness checks compare like with like.
"""

from __future__ import annotations

import re
from datetime import date
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, TypeVar

from pydantic import AfterValidator, StringConstraints

from koumbit_infra.inventory.names import is_system_account
from koumbit_infra.inventory.sshkeys import MAX_KEY_LINE, parse_public_key
from koumbit_infra.inventory.text import check_text, describe_character, invisible_character
from koumbit_infra.inventory.text import shown as _shown

MAX_DOMAIN = 253
MAX_EMAIL = 254
MAX_URL = 200
MAX_PATH = 500
FIRST_YEAR, LAST_YEAR = 1990, 2199

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
_PHP = re.compile(r"[0-9]{1,2}\.[0-9]{1,2}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+-]{0,29}(?:/[A-Za-z0-9][A-Za-z0-9_+-]{0,29}){0,2}")
_FISCAL = re.compile(r"([0-9]{4})-([0-9]{4})")
_PROXY = re.compile(r"(https?)://(?P<host>[a-z0-9.-]{1,253})(?::(?P<port>[0-9]{1,5}))?/?")
# A webhook: scheme, host, port, then a path and query of URL-safe characters only (no
# user:password@, no fragment, no quote, space, brace or backslash); % only as an escape
# of two hex digits (Go's URL parser, in Alertmanager, refuses any other).
_URL_CHAR = r"(?:[A-Za-z0-9._~/+-]|%[0-9A-Fa-f]{2})"
_WEBHOOK = re.compile(rf"(https?)://(?P<host>[a-z0-9.-]{{1,253}})(?::(?P<port>[0-9]{{1,5}}))?"
                      rf"(/{_URL_CHAR}*)?(\?(?:{_URL_CHAR}|[=&])*)?")
_MAIL_RELAY = re.compile(r"(?P<host>[a-z0-9.-]{1,253})(?::(?P<port>[0-9]{1,5}))?")
_ACME = re.compile(r"https://(?P<host>[a-z0-9.-]{1,253})(?::(?P<port>[0-9]{1,5}))?"
                   r"(?:/[A-Za-z0-9._~-]+)*/?")
_ABSOLUTE = re.compile(r"(?:/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}){1,20}")
# settings.staging_name: one placeholder, between letters, digits, dots and dashes.
_STAGING_NAME = re.compile(r"[a-z0-9.-]{0,200}\{(?:domain|label)\}[a-z0-9.-]{0,200}")
_PHONE = re.compile(r"\+?[0-9(][0-9 ().-]{2,28}[0-9](?: (?:poste|ext\.?) [0-9]{1,6})?")
_THIS_NETWORK = IPv4Network("0.0.0.0/8")
_GECOS_REFUSED = ":,="

T = TypeVar("T")


def at_least_one(values: tuple[T, ...]) -> tuple[T, ...]:
    """A list that may not be empty (checked after its items, so a bad item is one problem)."""
    if not values:
        raise ValueError("give at least one")
    return values


def _domain(value: str) -> str:
    """The canonical spelling of a domain: lower case, no trailing dot, ASCII (IDNA)."""
    if not value.isascii():
        raise ValueError(f"'{_shown(value)}' is not written in ASCII: write an internationalised"
                         " domain in its IDNA form (xn--...)")
    canonical = value.lower()
    canonical = canonical[:-1] if canonical.endswith(".") else canonical
    labels = canonical.split(".")
    if len(canonical) > MAX_DOMAIN or len(labels) < 2 or not all(
        _LABEL.fullmatch(x) for x in labels
    ):
        raise ValueError(f"'{_shown(value)}' is not a valid domain name")
    if labels[-1].isdigit():
        raise ValueError(f"'{value}' is not a valid domain name (numeric top-level label)")
    for label in labels:
        if label.startswith("xn--"):
            _idna_label(label, value)
    return canonical


def _idna_label(label: str, value: str) -> None:
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        raise ValueError(f"'{value}' holds '{label}', which is not valid IDNA") from None
    if not decoded or decoded.isascii():
        raise ValueError(f"'{value}' holds '{label}', which is not valid IDNA")
    if char := invisible_character(decoded):
        raise ValueError(f"'{value}' holds '{label}', which spells"
                         f" {describe_character(char)}")


def canonical_domain(value: str) -> str:
    """``value`` as the inventory stores a domain, or ValueError saying why it is not one."""
    return _domain(value)


def canonical_email(value: str) -> str:
    """``value`` as the inventory stores an e-mail address, or ValueError."""
    return _email(value)


def staging_domain(pattern: str, domain: str) -> str:
    """The name of ``domain``'s staging copy under ``pattern`` (settings.staging_name):
    ``{domain}`` is the site's domain, ``{label}`` the same with its dots as dashes (one
    label, for a name under the host's own domain). ValueError if that is not a domain."""
    label = domain.replace(".", "-")
    return _domain(pattern.replace("{domain}", domain).replace("{label}", label))


def _staging_name(value: str) -> str:
    """A pattern naming every site's staging copy: it must give a domain other than the
    site's own, for any site."""
    if not _STAGING_NAME.fullmatch(value):
        raise ValueError(f"'{_shown(value)}' is not a staging name such as 'staging.{{domain}}'"
                         " or '{label}.staging.koumbit.net' (one {domain} or {label}, among"
                         " lower-case letters, digits, dots and dashes)")
    try:
        sample = staging_domain(value, "exemple.org")
    except ValueError:
        raise ValueError(f"'{_shown(value)}' does not give a domain name (for exemple.org it"
                         " gives '" + _shown(value.replace("{domain}", "exemple.org")
                                             .replace("{label}", "exemple-org")) + "')"
                         ) from None
    if sample == "exemple.org":
        raise ValueError(f"'{value}' names the site itself: a staging copy needs a name of"
                         " its own, such as 'staging.{domain}'")
    return value


def check_acme_directory(value: str) -> str:
    """``value`` if it is an https URL of an ACME directory, else ValueError."""
    return _acme_directory(value)


def _whole(pattern: re.Pattern[str], value: str, what: str) -> str:
    """``value`` when ``pattern`` matches all of it; otherwise ValueError: it is not ``what``."""
    if not pattern.fullmatch(value):
        raise ValueError(f"'{_shown(value)}' is not {what}")
    return value


def _slug(value: str) -> str:
    return _whole(_SLUG, value, "a slug (lower-case letters, digits and dashes, at most 64)")


def _name(value: str) -> str:
    return _whole(_NAME, value, "a valid name (a lower-case letter, then letters, digits,"
                                " dashes; at most 31)")


def _login(value: str) -> str:
    """An admin's Unix login: a name that no system account has or may get."""
    _name(value)
    if is_system_account(value):
        raise ValueError(f"'{value}' is the name of a system account; give the admin"
                         " a personal login")
    return value


def _php(value: str) -> str:
    return _whole(_PHP, value, "a PHP version such as '8.2'")


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if len(value) > MAX_EMAIL or not at or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise ValueError(f"'{_shown(value)}' is not an e-mail address (letters, digits and"
                         " . _ + - before the @)")
    try:
        return f"{local}@{_domain(domain)}"
    except ValueError:
        raise ValueError(f"'{_shown(value)}' is not an e-mail address"
                         " (the part after @ is not a domain)") from None


def _text(value: str) -> str:
    return check_text(value)


def _gecos(value: str) -> str:
    """A person's name for /etc/passwd: free text without the field separators."""
    check_text(value)
    if refused := [c for c in _GECOS_REFUSED if c in value]:
        raise ValueError(f"'{_shown(value)}' contains '{refused[0]}', which separates the"
                         " fields of /etc/passwd")
    return value


def _phone(value: str) -> str:
    return _whole(_PHONE, value, "a phone number such as '514 555-0100 poste 22'")


def _ssh_key(value: str) -> str:
    parse_public_key(value)
    return value


def _host_and_port(pattern: re.Pattern[str], value: str, what: str) -> re.Match[str]:
    """The match of ``pattern`` (its groups ``host`` and ``port``) on all of ``value``, its
    host an IPv4 address, localhost or a domain and its port a TCP port; otherwise
    ValueError: it is not ``what``."""
    found = pattern.fullmatch(value)
    try:
        if found is None:
            raise ValueError
        port = found["port"]
        if port and not 0 < int(port) < 65536:
            raise ValueError
        host = found["host"]
        if re.fullmatch(r"[0-9.]+", host):
            IPv4Address(host)
        elif host != "localhost":
            _domain(host)
    except ValueError:
        raise ValueError(f"'{_shown(value)}' is not {what}") from None
    return found


def _apt_proxy(value: str) -> str:
    """An http(s) URL of a host and port, nothing else: it is pasted into apt's configuration."""
    _host_and_port(_PROXY, value, "an http(s) URL of a host and port such as"
                                  " http://10.77.0.1:3142")
    return value


def _acme_directory(value: str) -> str:
    """An https URL of an ACME directory, nothing else: it reaches certbot's --server."""
    _host_and_port(_ACME, value, "an https URL of an ACME directory such as"
                                 " https://acme-v02.api.letsencrypt.org/directory (https only:"
                                 " the account key and every order travel over it)")
    return value


def _absolute_path(value: str) -> str:
    """An absolute path of plain names (letters, digits, . _ -), no '..'."""
    if not _ABSOLUTE.fullmatch(value) or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise ValueError(f"'{_shown(value)}' is not an absolute path of plain names such as"
                         " /var/lib/koumbit-lab/pebble/trust.pem")
    return value


def _source_url(value: str) -> str:
    """An https URL where code or advisories come from: written into composer's JSON."""
    _host_and_port(_ACME, value, "an https URL such as https://repo.packagist.org (https"
                                 " only: code and advisories are trusted by where they come"
                                 " from)")
    return value


def _webhook_url(value: str) -> str:
    """An http(s) URL that an alert is posted to; it is written into Alertmanager's YAML."""
    _host_and_port(_WEBHOOK, value, "an http(s) URL such as https://chat.koumbit.example/hooks/"
                                    "alertes (host, port, path and query of letters, digits,"
                                    " . _ ~ / + - = & and %XX escapes; no user:password@)")
    return value


def _mail_relay(value: str) -> str:
    """``host[:port]`` of an SMTP relay: it is written into exim's configuration."""
    found = _host_and_port(_MAIL_RELAY, value, "a mail relay such as smtp.koumbit.example or"
                                               " smtp.koumbit.example:587 (a host name or IPv4"
                                               " address, and a port)")
    # The monitoring server's own exim listens there: mail would go round in circles.
    if found["host"] == "localhost" or found["host"].startswith("127."):
        raise ValueError(f"'{_shown(value)}' is this server itself; give the relay that"
                         " accepts the monitoring server's mail")
    return value


def _address(value: IPv4Address) -> IPv4Address:
    """An address a server can have: one host, reachable from the toolkit."""
    if value in _THIS_NETWORK:
        why = "is 'this network' (0.0.0.0/8), not a host"
    elif value.is_multicast:
        why = "is a multicast group, not a host"
    elif value.is_loopback:
        why = "is the loopback of the machine running the toolkit, not a server"
    elif value.is_link_local:
        why = "is link-local (169.254.0.0/16), not reachable from the toolkit"
    elif value.is_reserved:
        why = "is reserved (240.0.0.0/4, with the broadcast 255.255.255.255), not a host"
    elif value.packed[-1] in (0, 255):
        why = "ends in .0 or .255, the network or broadcast address of its /24"
    else:
        return value
    raise ValueError(f"{value} {why}; give the server's own address")


def _timezone(value: str) -> str:
    return _whole(_ZONE, value, "a time zone name such as America/Toronto (the IANA tz database)")


def _fiscal_year(value: str) -> str:
    found = _FISCAL.fullmatch(value)
    if not found or int(found[2]) != int(found[1]) + 1:
        raise ValueError(f"'{_shown(value)}' is not two consecutive years such as 2026-2027")
    return value


def _day(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{value} is not a date between {FIRST_YEAR} and {LAST_YEAR}")
    return value


def _max(length: int) -> StringConstraints:
    return StringConstraints(max_length=length)


Domain = Annotated[str, _max(MAX_DOMAIN + 1), AfterValidator(_domain)]  # + a trailing dot
Email = Annotated[str, _max(MAX_EMAIL), AfterValidator(_email)]
Slug = Annotated[str, _max(64), AfterValidator(_slug)]
Name = Annotated[str, _max(31), AfterValidator(_name)]
Login = Annotated[str, _max(31), AfterValidator(_login)]
PhpVersion = Annotated[str, _max(5), AfterValidator(_php)]
Label = Annotated[str, _max(100), AfterValidator(_text)]
"""Free text on one line: a label, a line of the budget, a contact's name."""
Title = Annotated[str, _max(200), AfterValidator(_text)]
"""Free text on one line: an organisation's name, a site's title."""
Note = Annotated[str, _max(1000), AfterValidator(_text)]
"""Free text on one line, for a longer remark."""
PersonName = Annotated[str, _max(100), AfterValidator(_gecos)]
Phone = Annotated[str, _max(40), AfterValidator(_phone)]
SshKey = Annotated[str, _max(MAX_KEY_LINE), AfterValidator(_ssh_key)]
AptProxy = Annotated[str, _max(MAX_URL), AfterValidator(_apt_proxy)]
AcmeDirectory = Annotated[str, _max(MAX_URL), AfterValidator(_acme_directory)]
AbsolutePath = Annotated[str, _max(MAX_PATH), AfterValidator(_absolute_path)]
SourceUrl = Annotated[str, _max(MAX_URL), AfterValidator(_source_url)]
WebhookUrl = Annotated[str, _max(MAX_URL), AfterValidator(_webhook_url)]
MailRelay = Annotated[str, _max(MAX_DOMAIN + 6), AfterValidator(_mail_relay)]
TimeZone = Annotated[str, _max(64), AfterValidator(_timezone)]
StagingName = Annotated[str, _max(200), AfterValidator(_staging_name)]
FiscalYear = Annotated[str, _max(9), AfterValidator(_fiscal_year)]
ServerAddress = Annotated[IPv4Address, AfterValidator(_address)]
Day = Annotated[date, AfterValidator(_day)]
