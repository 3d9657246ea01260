"""``python -m otel_drift._internal.cli``: the same as the ``otel-drift`` command."""

from otel_drift._internal.cli.main import main

raise SystemExit(main())
