"""The SSRF guard: every IPv6 form that embeds, tunnels to or scopes an internal address is
refused, checked one range at a time; public addresses still pass."""

import pytest

from services.core.errors import BadRequest
from services.core.urlguard import check_url

REFUSED = {
    "6to4 embedding the metadata address": "http://[2002:a9fe:a9fe::]/latest/meta-data/",
    "6to4 embedding a private address": "http://[2002:0a00:0001::1]/",
    "6to4 embedding a public address": "http://[2002:0808:0808::1]/",
    "Teredo": "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "site-local": "http://[fec0::1]/",
    "NAT64 well-known prefix": "http://[64:ff9b::a9fe:a9fe]/",
    "NAT64 local-use prefix": "http://[64:ff9b:1::a00:1]/",
    "IPv4-compatible": "http://[::a9fe:a9fe]/",
    "IPv4-compatible loopback": "http://[::127.0.0.1]/",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]/",
    "IPv4-mapped metadata": "http://[::ffff:169.254.169.254]/",
    "IPv4-translated (SIIT)": "http://[::ffff:0:a9fe:a9fe]/",
    "ISATAP embedding a private address": "http://[2600::5efe:a00:1]/",
    "discard-only": "http://[100::1]/",
    "unique local": "http://[fd00::1]/",
    "AWS metadata over IPv6": "http://[fd00:ec2::254]/",
    "link-local": "http://[fe80::1]/",
    "documentation": "http://[2001:db8::1]/",
    "carrier-grade NAT": "http://100.64.0.1/",
    "benchmarking": "http://198.18.0.1/",
    "this network": "http://0.0.0.1/",
}


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_internal_or_tunnelled_address_is_refused(url):
    with pytest.raises(BadRequest) as refused:
        check_url(url, [])
    assert refused.value.code == "url_forbidden"


@pytest.mark.parametrize("url", ["http://[2600::1]/", "http://[::ffff:8.8.8.8]/", "http://8.8.8.8/",
                                 "http://[2600::5efe:808:808]/"])
def test_public_address_passes(url):
    check_url(url, [])


def test_6to4_metadata_url_is_refused_by_the_api(api):
    response = api.post("/v1/videos", json={"url": REFUSED["6to4 embedding the metadata address"]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "url_forbidden"


def test_an_unknown_name_and_an_internal_one_get_the_same_answer():
    """Told apart, the answers were an oracle of which internal names exist."""
    answers = []
    for host in ("no-such-host.invalid", "localhost"):
        with pytest.raises(BadRequest) as refused:
            check_url(f"http://{host}/video.mp4", [])
        answers.append((refused.value.code, refused.value.message.replace(host, "HOST")))
    assert answers[0] == answers[1] == ("url_forbidden", "HOST does not resolve to a public address")
