"""Custom pyinfra facts: one command answers everything a deploy needs to decide.

Each fact is a ``command()`` plus a pure ``process(lines)``, so unit tests feed
it recorded output. Commands always exit 0: "absent" is an answer, not an error.
"""
