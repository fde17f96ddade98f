"""The koumbit exporter: capacity and per-site usage of one server, for Prometheus.

``koumbit-infra exporter --config /etc/koumbit/exporter.toml`` serves
``http://<listen_address>:19100/metrics``. Port 19100 is outside 9100-9999,
the range the Prometheus wiki "Default port allocations" gave to exporters
(fully allocated since 2023), and outside its continuation just above 10000.

Layout on a web server (koumbit_infra/sites/layout.py defines it; the deploy
writes it into the configuration's ``[paths]``)
---------------------------------------------------
- ``/srv/sites/<system_name>/``: one tree per site, holding ``web/`` (code),
  ``files/`` (uploads), ``tmp/``, ``sessions/`` and ``logs/``. Everything under
  it is the site's disk usage.
- ``/var/log/nginx/sites/<system_name>.access.log``: the site's access log in
  the ``koumbit_json`` format (templates/etc/nginx/conf.d/
  koumbit-log-format.conf.j2), rotated by logrotate with ``delaycompress`` so
  the previous file stays readable as ``<name>.access.log.1``.
- PHP-FPM pool ``<system_name>`` runs as user ``<system_name>`` with
  ``pm.status_path = /fpm-status`` and
  ``pm.status_listen = /run/php/<system_name>.status.sock``, a socket owned by
  the group the exporter joins (``www-data`` by default). The status socket
  is served by FPM's own small pool, so it answers even when every worker of
  the site is busy, which is exactly when saturation must be seen; through the
  site's main socket the status request would queue behind them.
- MariaDB: database ``<system_name>``; the exporter's user
  ``koumbit_exporter@localhost`` with ``GRANT SHOW VIEW ON *.*`` only and its
  password in a root-only option file handed over by systemd's
  ``LoadCredential=`` (never on a command line).
- Optional cgroup v2 slice per site
  ``/sys/fs/cgroup/koumbit.slice/koumbit-sites.slice/koumbit-sites-<system_name>.slice``.

Methods, and their known errors
-------------------------------
Disk (every 300 s). Default ``scan``: a walk of each site's tree, in a
thread at nice 10 (and the unit's idle I/O class), adding ``st_blocks x 512``
of every entry once per inode (hard links once), without following symlinks
or crossing into other mounted filesystems: what ``du -s -x --block-size=1``
prints. Results are published as the walk goes, site by site. Error: the
value is as old as the last pass (at most the interval plus the pass time);
files created and deleted between two passes are never seen; an unreadable
directory makes the site's value absent rather than low.

The walk (diskscan.py) streams, because a site's tree is hostile: os.scandir
on each directory's descriptor, one entry at a time and never a list, so its
memory does not depend on what a directory holds (tracemalloc: 2.4 KB of
peak for 10,000 entries in one directory and for 100,000; listing them took
7.4 and 75 MB). It keeps one small frame per directory level (name, inode,
entries read) and at most 32 directories open (two descriptors and glibc's
32 KiB buffer each); an outer one is reopened from the root, inode by inode,
when the walk climbs back to it, and the entries it had read are skipped.
Directories are opened relative to their parent with O_NOFOLLOW and
O_DIRECTORY, so a symlink or FIFO a site swaps in for a directory mid-walk
is refused by the kernel; nothing but directories is ever opened, and FIFOs,
sockets and devices are only lstat'ed. Bounds a hostile tree meets: deeper
than 2,048 directories (beyond what any program on the server can reach by
path) the site is not measured, an error; past 20,000 inodes with several
names, each further one counts ``st_blocks x 512 / st_nlink`` per name,
exact when all its names are in the tree, low by the share of names outside
it otherwise.

Time budget. Each site walks at most ``[disk] site_budget_seconds`` (30 s)
per refresh, so one tree never holds up the others. A walk past it stops and
keeps only its frames and running total (no descriptor held), and goes on
where it stopped at the next refresh. Until it ends the site keeps its last
complete figure (none yet after a restart), never a partial one, which would
read low; and ``koumbit_site_disk_scan_within_budget`` is 0 while a walk is
spread over several refreshes and after one that was, 1 once a walk fits in
one refresh again. A tree always larger than the budget thus still gets a
figure every ceil(walk time / budget) refreshes, and stays flagged 0 as long
as it does (alert KoumbitSiteDiskScanOverBudget after an hour). Error of such
a figure, beyond the above: it is as old as those refreshes; its entries are
seen at different times; a directory resumed by position after entries
before the position were added or removed counts a few entries twice or
misses them; one removed or replaced between two refreshes is left out of
that walk. The collector's success is not affected: late is not failed.

``user_quota`` / ``project_quota``:
``repquota -n`` on the filesystem, in 1 KiB blocks: exact and cheap, but a
user quota counts the user's files anywhere on that filesystem and misses
files in the tree owned by others; reading other users' quotas needs
CAP_SYS_ADMIN, which the unit does not grant. A server whose trees are too
large to walk in their budget should use ``project_quota``.

Database (every 300 s, on a db server). One query on
information_schema.TABLES, ``SUM(data_length + index_length)`` grouped by
``table_schema``. Error: InnoDB's figures are estimates refreshed with table
statistics (a few percent after heavy writes), exclude free space inside the
tablespace files, and a database without tables reads 0.

CPU (every 15 s). Where the site's cgroup v2 slice exists, ``usage_usec`` of
its ``cpu.stat``: exact. Otherwise (the lab, whose containers get no cgroup
controllers) from /proc: for each live process whose effective uid is the
site's user, ``utime + stime`` of ``/proc/<pid>/stat``, kept per
(pid, start time) and summed as deltas into a per-site counter. Error: what a
process uses after its last sample before it exits is lost (at most one
interval of its CPU), and a process living less than one interval (a short
cron job) is missed entirely; long-lived PHP-FPM workers lose at most their
last interval when recycled. A site's counter changes meaning if its cgroup
appears or disappears (a counter reset for Prometheus).

Memory (with CPU, same pass). Where the site's cgroup exists, ``anon`` of its
``memory.stat``. Otherwise, over the site user's live processes, resident
minus shared pages of ``/proc/<pid>/statm``. Error: pages shared with other
processes (libraries, opcache, the FPM master's copy-on-write pages) are
counted for no site, so a site's figure is its private memory, the part it
alone makes the server hold; a gauge sampled every 15 s misses short peaks.
The cost model charges max(reserved, this).

Traffic (every 15 s). Each site's JSON log read from the last inode and
offset; on rotation the rest of the old file is read under its rotated name,
then the new one from its start; truncation restarts at 0. Error: none for
complete lines while the rotated file is still uncompressed; lines written
to a rotated file after it was compressed are lost (counted as lost
rotations); counters start again from the current log after a restart.

PHP-FPM (every 15 s). ``/fpm-status?json`` over FastCGI (fastcgi.py: a
50-line client) on each pool's status socket. Direct FastCGI rather than
through nginx: no vhost to maintain and secure, and status stays readable
while nginx reloads or is broken. The price: whoever can connect to an FPM
socket can run PHP as that site, so the exporter is as trusted as nginx and
is sandboxed accordingly (see the unit). ``max children reached`` restarts at
0 when FPM restarts (a counter reset). Max workers come from the plan.

Server capacity (static): declared disk and memory against the sum of the
sites' quotas and of PHP workers x memory_limit, and the headroom in sites
of the median commitment, per resource.

Self-metrics: ``koumbit_up``; per collector success, errors, duration of the
last refresh and last success time; per site, whether its disk walk fits its
time budget (above). Measurements run in background threads
and are served from memory; one failing (database down, a site deleted
mid-scan) never stops the others. Rendering happens after each refresh
(exposition.py), so a scrape joins bytes already rendered.

Memory (``bench/exporter.py``, RSS after 200 scrapes with every refresh
looping): about 27 MiB with a handful of sites, then about 2.5 KB per site:
31 MiB at 1,000 sites, 53 MiB at 10,000. (Validating the configuration with
pydantic cost about 10 MiB more, and tied the bundle to one Python version:
validation.py replaced it.) Per site the
exporter keeps one slotted SiteEntry and its label tuple, one log tail and
64 bytes of traffic totals, and one value per collector; renders work in
parts of 1,000 samples; glibc malloc is held to two arenas and fixed
thresholds (memory.py). The disk walk adds a constant whatever the trees
hold: a few KB of Python objects and at most 32 open directories (about
1 MiB); a walk stopped at its budget keeps, until it ends, its frames (a
name and three integers per level) and at most 20,000 remembered inodes
(about 1.2 MB). With one of 1,000 sites holding 1,000,000 files in one
directory, the peak RSS (VmHWM) was 44.8 MiB against 44.5 without it
(``bench/exporter.py --huge 1000000``; the old walk, which listed each
directory, peaked at 844 MiB, past the unit's MemoryMax of 256 MiB).
Profile with tracemalloc and /proc/PID/smaps_rollup on the bench's child
process.
"""
