"""The ``otel-drift`` command: a leaf that nothing outside this folder imports.

One module per command (``validate``, ``rules``, ``dashboard``, ``gate``,
``summary``, ``shape``); ``baseline/`` and ``report/`` are commands large
enough for a folder of their own, their ``command`` module the entry.
``registry`` holds the command table and exit codes that command modules
import; ``main`` imports the commands, builds the parser and runs.
``prometheus`` is the client of the Prometheus HTTP API and ``promql`` the
fleet-wide PromQL that ``rules``, ``dashboard``, ``gate`` and ``report``
share.
"""
