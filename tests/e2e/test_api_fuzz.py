"""schemathesis over the generated OpenAPI document against the local stack: no request gives a 5xx, and every
answer has a status, content type and body the document declares for its operation (tests/e2e/fuzzing.py).

The budget is bounded (FUZZ_EXAMPLES generated requests per operation and mode, derandomized so a run is
reproducible); docs/reliability.md has the counts of a run and the command."""
from __future__ import annotations

import pytest

from incentives.http.openapi import document

from tests.e2e.fuzzing import budget_from_env, fuzz, local_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.filterwarnings("ignore:No application metrics")]


def test_no_generated_request_gives_a_5xx_and_every_answer_matches_the_document(ddb_endpoint, tmp_path):
    with local_stack(ddb_endpoint, tmp_path) as base_url:
        examples, seconds, seed = budget_from_env(examples=25, seconds=45)
        result = fuzz(base_url, examples, seconds, seed)
    print(result.summary())
    assert len(result.per_operation) == sum(len(p) for p in document()["paths"].values())  # every operation
    assert result.server_errors == 0, "\n".join(result.failures)
    assert not result.failures, "\n".join(result.failures)
