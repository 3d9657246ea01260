"""The scenarios' shared recording: the service once with otel-drift off, for every way to learn.

Session-scoped, so the CSV way (test_varying_load.py) and the traces way
(test_learned_baselines.py) learn from the same run: recording it costs two
minutes of the suite.
"""

from __future__ import annotations

import pytest

from tests.scenarios.support import RECORD, Phase, Run, run_service
from tests.web.servers import require


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Run:
    require("flask")
    recorded = run_service(
        tmp_path_factory.mktemp("recording"), "record", [Phase(RECORD, seed=1)], None
    )
    assert not [s for s in recorded.spans if s.name == "drift.evaluation"]
    return recorded
