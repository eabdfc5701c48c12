"""Fixtures of the end-to-end tests (helpers in tests/e2e/localrun.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.localrun import write_fake_functions


@pytest.fixture(scope="module")
def fake_functions(tmp_path_factory) -> Path:
    return write_fake_functions(tmp_path_factory.mktemp("functions"))
