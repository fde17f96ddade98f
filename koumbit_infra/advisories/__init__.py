"""Which advisories each site is exposed to: composer's advisory answer from the PHP
Security Advisories Database, WordPress core against its source's security releases, and
the per-site ``audit.json`` the servers' audit timer writes.

- ``database``: the PHP Security Advisories Database read in place (one YAML file per
  advisory), from ``../shared/data/php-security-advisories`` beside the checkout;
- ``versions``: composer's version order and constraints, enough to say which locked
  versions an advisory affects without composer;
- ``composer_api``: the answer packagist's security-advisories API gives composer, built
  from that data (the lab host serves it to ``composer audit``);
- ``severity``: how a severity reaches ``audit.json`` (the data carries none);
- ``wordpress``: WordPress core's version, read as data, against ``releases.json``;
- ``auditfile``: ``audit.json`` (written on the servers, read by the exporter and
  ``sites status``) and ``update.json``, both parsed as hostile input.
"""
