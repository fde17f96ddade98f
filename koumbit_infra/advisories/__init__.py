"""Which advisories each site is exposed to: composer's advisory answer from the PHP
Security Advisories Database, WordPress core against its source's security releases, and
the per-site ``audit.json`` the servers' audit timer writes.

- ``database``: the PHP Security Advisories Database read in place (one YAML file per
  advisory), from ``../shared/data/php-security-advisories`` beside the checkout;
- ``versions``: composer's version order and constraints, enough to say which locked
  versions an advisory affects without composer;
- ``composer_api``: the answer packagist's security-advisories API gives composer, built
  from that data (the lab host serves it to ``composer audit``);
- ``siteaudit``: the program every web server runs (``koumbit-site-audit``): each
  site's lock through ``composer audit``, WordPress core against ``releases.json``,
  severities (the data carries none), ``audit.json``;
- ``report``: the bilingual list of affected sites, grouped by advisory.

``audit.json`` and ``update.json`` are read (by the exporter and ``sites status``) with
``koumbit_infra.exporter.sitestate``, which ships to the servers with the exporter.
"""
