"""The pure domain: trigger maths, job and instance specs, code checks.

No database, no Flask, no threads: the API, the services, the CLI and the
scheduler all build on it (APScheduler likewise keeps its triggers in a package
of their own).
"""
