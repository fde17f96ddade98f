"""``koumbit-infra server recover NAME``: a lost server rebuilt, every site back from backups.

Only the escrow and an admin's own SSH key are used, nothing from the lost disk:

1. the inventory is checked and NAME must be a server that backs up (exit 2 otherwise);
2. NAME's repository password is fetched, encrypted, from a backup target's escrow
   (``/var/lib/koumbit-backup/escrow/NAME.age``) and decrypted here with ``age`` and the
   admin's key; it stays in memory and reaches NAME only through a command's stdin;
3. ``--dry`` lists, from the target, the snapshot each site would come back from, and stops;
4. the password is put on NAME, then NAME and the backup targets are deployed;
5. every site the inventory puts on NAME is restored from its newest snapshot taken
   before the recovery began (the next older ones if a restore fails).

Modules: ``plan`` (pure: which server, targets, sites, snapshots), ``escrow`` (fetch and
decrypt), ``steps`` (what is run on NAME and the target), ``cli`` (the command).
"""
