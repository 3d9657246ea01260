"""What a raw value may look like when it leaves the process on a span.

Raw values leave the process only as aggregates; the one exception is the
offending value a violation span points at, and ``safe_value`` decides what
of it is shown: numbers as they are (clamped to what OTLP carries), strings
and everything else as a short keyed hash, so a backend can tell equal values
apart without learning them.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os

from opentelemetry.util.types import AttributeValue

#: A string value in a violation span is shown only as a short keyed hash of
#: itself (raw values leave the process only as aggregates); numbers are shown.
#: Keyed (HMAC-SHA256), because a plain hash of a low-entropy value (a status,
#: an e-mail address from a known list) is reversed by hashing the candidates.
HASHED_VALUE_PREFIX = "hmac-sha256:"
#: The key when OTEL_DRIFT_VALUE_HASH_KEY is unset: random, this process only.
_PROCESS_KEY = os.urandom(32)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def safe_value(value: object, key: bytes | None = None) -> AttributeValue:
    """What a violation span may carry of a raw value.

    ``key``: the deployment's hash key (equal values give equal hashes across
    its processes), else this process's random one.

    >>> safe_value(12.5), safe_value(True), safe_value(-(10**30)), safe_value(10**5000)
    (12.5, True, -1e+30, inf)
    >>> safe_value("secret", b"deployment key")
    'hmac-sha256:1c7e4d3ebb2bdf3a'
    >>> safe_value("secret") == safe_value("secret") != safe_value("secret", b"other key")
    True
    """
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        # OTLP carries 64-bit integers; its encoder drops (and logs) wider ones.
        # Subclasses (HTTPStatus) are shown as the plain number they are.
        if _INT64_MIN <= value <= _INT64_MAX:
            return int(value)
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, float):
        return float(value)
    text = value if isinstance(value, str) else repr(type(value).__name__)
    digest = hmac.new(key or _PROCESS_KEY, text.encode("utf-8", "replace"), hashlib.sha256)
    return HASHED_VALUE_PREFIX + digest.hexdigest()[:16]
