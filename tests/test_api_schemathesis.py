"""Schemathesis against the app's own OpenAPI spec: whatever a client sends, never a 5xx.

In-process over ASGI (lifespan included) against the real Redis and S3. Half the calls on
a stream's routes use a real stream and its token, so generated bodies reach the checks
behind authentication instead of stopping at 401.
"""

from itertools import count

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error

from services.core.jobqueue import redis_client
from services.core.schemas import Enhancement
from services.core.settings import Settings
from services.core.streams import StreamStore

# The SSE route holds its response open while the stream is live: only its refusals are fuzzed.
STREAMING_PATHS = {"/v1/streams/{stream_id}/events"}
calls = count()


@pytest.fixture
def app_schema(settings: Settings) -> schemathesis.schemas.BaseSchema:
    from services.api.app import create_app

    return schemathesis.openapi.from_asgi("/openapi.json", create_app())


@pytest.fixture
def real_stream(settings: Settings) -> tuple[str, str]:
    """(id, token) of a live stream."""
    stream, token = StreamStore(redis_client(settings.redis_url), settings.stream_ttl_seconds).create_stream(Enhancement())
    return stream.id, token


schema = schemathesis.pytest.from_fixture("app_schema")


@schema.parametrize()
@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_server_error(case, real_stream):
    if "stream_id" in (case.path_parameters or {}) and case.path not in STREAMING_PATHS and next(calls) % 2:
        stream_id, token = real_stream
        case.path_parameters["stream_id"] = stream_id
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    case.call_and_validate(checks=[not_a_server_error])
