"""NetworkPolicy: a pod outside the allowed set cannot open a connection to MongoDB."""

from __future__ import annotations

import pytest

from tests.e2e.kube import ProbePod, ProbeResult, Settings, eventually

pytestmark = pytest.mark.e2e


def test_a_pod_outside_the_allowed_set_cannot_reach_mongodb(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    # Same ServiceAccount as api-service (the mesh would allow it); only its label differs,
    # so what stops it is the NetworkPolicy.
    eventually(
        lambda: probes["api"].mongo_ping(settings.mongodb_uri),
        lambda r: r.status == 0,
        "the control: api-service's labels reach MongoDB",
    )
    result: ProbeResult = eventually(
        lambda: probes["intruder"].mongo_ping(settings.mongodb_uri),
        lambda r: r.error is not None,
        "a pod without an allowed label is cut off from MongoDB",
    )
    assert result.status is None
