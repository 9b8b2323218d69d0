"""Messages a client reads (clip.error, stream.error) keep what went wrong and lose where:
no URL, temp path, address or port of ours."""

import pytest

from services.core.errors import without_server_details

LEAKY = {
    "redis": ("redis.exceptions.ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused.",
              ["127.0.0.1", "6379"]),
    "redis by name": ("ConnectionError: Error -2 connecting to redis-primary.internal:6379. Name or service not known.",
                      ["redis-primary", "6379"]),
    "s3 endpoint": (('EndpointConnectionError: Could not connect to the endpoint URL: '
                    '"http://10.0.3.7:8333/sharpr/streams/abc/input/000000.webm"'), ["10.0.3.7", "8333", "http"]),
    "ffmpeg temp path": (("InvalidDataError: [Errno 1094995529] Invalid data found when processing input: "
                         "'/tmp/sharpr-ingest-abc-x1/source'"), ["/tmp", "sharpr-ingest"]),
    "ipv6": ("OSError: connect to [fd00::5]:8333 failed", ["fd00", "8333"]),
}


@pytest.mark.parametrize("case", LEAKY)
def test_server_details_are_hidden_and_the_reason_kept(case):
    text, secrets = LEAKY[case]
    cleaned = without_server_details(text)
    assert not [secret for secret in secrets if secret in cleaned], cleaned
    assert cleaned.split(":")[0] == text.split(":")[0]  # the kind of error stays


@pytest.mark.parametrize("text", [
    "ConnectionResetError: connection reset by peer",
    "ClientError: An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.",
    "the clip runs at 240 frames per second, over the limit of 120",
    "frame size 20000x20000 is over the limit of 2073600 pixels",
])
def test_messages_without_server_details_are_unchanged(text):
    assert without_server_details(text) == text
