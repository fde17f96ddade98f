"""Client sites on a web server: layout, files, secrets, database, codebase, states.

What a site is on disk follows the exporter's SITE LAYOUT CONTRACT
(``koumbit_infra.exporter``): ``/srv/sites/<system_name>/{web,files,tmp,
sessions,logs}`` plus ``secrets/`` (root:site 0750), the access log
``/var/log/nginx/sites/<system_name>.access.log`` and the PHP-FPM pool
``<system_name>``. ``deploys/sites.py`` converges it; ``koumbit-infra site``
and ``koumbit-infra run`` act on it imperatively.
"""
