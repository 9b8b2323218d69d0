"""What a client of the v1 API does, in the tests' words: create, upload, register."""

from pathlib import Path

import httpx


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload_clip(api: httpx.Client, stream: dict, seq: int, body: bytes, ext: str = "webm") -> httpx.Response:
    """Ask for a presigned POST and send `body` to S3 with it; returns S3's response."""
    grant = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": seq, "ext": ext}, headers=auth(stream["token"]))
    grant.raise_for_status()
    form = grant.json()
    return httpx.post(form["url"], data=form["fields"], files={"file": (f"clip.{ext}", body, f"video/{ext}")})


def send_clip(api: httpx.Client, stream: dict, seq: int, path: Path, **extra: str) -> httpx.Response:
    """Upload a clip file and register it (with `extra` fields, such as the client's
    `tier`); returns the registration response."""
    ext = path.suffix.lstrip(".")
    assert upload_clip(api, stream, seq, path.read_bytes(), ext).status_code == 204
    key = f"streams/{stream['id']}/input/{seq:06d}.{ext}"
    return api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": seq, "key": key, **extra},
                    headers=auth(stream["token"]))
