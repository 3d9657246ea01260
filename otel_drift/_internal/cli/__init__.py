"""The ``otel-drift`` command: a leaf that nothing outside this folder imports.

One module per command; ``registry`` holds the command table and exit codes,
``main`` builds the parser. ``baseline/`` and ``report/`` are commands large
enough for a folder of their own.
"""
