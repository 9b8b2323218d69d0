"""Settings read from the environment, where one depends on another."""

import pytest

from services.core.settings import Settings


def test_public_url_follows_the_api_port_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SHARPR_API_PORT=9100` alone used to hand out links (and print a hub URL) at 8000."""
    monkeypatch.setenv("SHARPR_API_PORT", "9100")
    monkeypatch.delenv("SHARPR_PUBLIC_BASE_URL", raising=False)
    assert Settings().public_base_url == "http://127.0.0.1:9100"
    monkeypatch.setenv("SHARPR_PUBLIC_BASE_URL", "https://sharpr.example")
    assert Settings().public_base_url == "https://sharpr.example"
