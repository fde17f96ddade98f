"""Lab WordPress sites put at an older release of the lab's WordPress source, as the update
test and ``bench/update.py`` need them: the older release, and its theme.

The lab's source has two releases, each built from Debian's package, each holding one
default theme (6.1's twentytwentythree, 6.8's twentytwentyfive). A site the deploy makes
gets the newest release and its theme; put back at the older release with that theme
active, it ends in a fatal error (the newer theme calls functions the older core lacks),
which no real site made on the older release has. So such a site first takes the older
release's theme, as if it had been made on it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from koumbit_infra.sites.layout import SiteLayout


def _key(version: str) -> list[int]:
    return [int(part) for part in version.split(".")]


def older_and_newest(releases: Mapping[str, object]) -> tuple[str, str]:
    """The newest release older than the source's latest, and the latest (ValueError when
    the source serves no older one)."""
    newest = str(releases["latest"])
    listed = releases["versions"]
    versions = [str(v) for v in listed] if isinstance(listed, Sequence) else []
    older = [v for v in versions if _key(v) < _key(newest)]
    if not older:
        raise ValueError(f"the WordPress source serves no release older than {newest}")
    return max(older, key=_key), newest


def release_theme_line(site: SiteLayout, source: str, version: str) -> str:
    """Root's line that gives ``site`` the themes of WordPress ``version`` from ``source``
    (those it lacks) and activates that release's default theme (its WP_DEFAULT_THEME),
    all as the site's user; it prints the theme WordPress then says is active."""
    fetch = (f"umask 022 && cd {shlex.quote(site.tmp)} && rm -rf release && mkdir release"
             f" && curl -fsS --proto =https -o release/wp.tgz"
             f" {shlex.quote(f'{source}/wordpress-{version}.tar.gz')}"
             " && tar -xzf release/wp.tgz -C release wordpress/wp-content/themes"
             " wordpress/wp-includes/default-constants.php"
             " && theme=$(sed -n \"s/.*define( *'WP_DEFAULT_THEME', *'\\([a-z0-9-]*\\)'.*/\\1/p\""
             " release/wordpress/wp-includes/default-constants.php)"
             " && [ -n \"$theme\" ] && [ -d \"release/wordpress/wp-content/themes/$theme\" ]"
             " && cd release/wordpress/wp-content/themes"
             " && for t in *; do [ -e \"$0/wp-content/themes/$t\" ]"
             " || cp -r \"$t\" \"$0/wp-content/themes/\"; done"
             " && cd \"$0\" && rm -rf \"$1/release\" && THEME=$theme php -r \"$2\"")
    php = (f"$_SERVER['HTTP_HOST'] = {_php_string(site.domain)}; define('WP_USE_THEMES', false);"
           " require 'wp-load.php'; switch_theme(getenv('THEME')); echo get_stylesheet();")
    return (f"runuser -u {site.name} -- sh -c {shlex.quote(fetch)}"
            f" {shlex.quote(site.web)} {shlex.quote(site.tmp)} {shlex.quote(php)}")


def _php_string(text: str) -> str:
    """A PHP single-quoted string of ``text`` (a validated domain: no quote, no backslash)."""
    if "'" in text or "\\" in text:
        raise ValueError(f"not a domain: {text!r}")
    return f"'{text}'"
