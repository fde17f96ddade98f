"""Custom pyinfra operations: each changes something only when a fact says it must.

pyinfra's ``server.shell`` always reports a change; these read a fact first,
so a second deploy reports no change.
"""
