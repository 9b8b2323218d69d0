"""`sharpr up --demo`: send a generated two-clip video through the running stack.

It does what the extension does, over HTTP: create a stream, upload each clip with its
presigned POST, register it, stop, and wait until the playlist is complete.
"""

import time
from pathlib import Path

import httpx

from services.demo_media import write_clip

DEMO_CLIPS = 2
DEMO_SECONDS = 4.0


def run_demo(base_url: str, data_dir: Path, timeout: float = 600.0) -> str:
    """Returns the enhanced playlist's URL once it has `#EXT-X-ENDLIST`."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        stream = api.post("/v1/streams", json={"mode": "anime", "scale": 2}).raise_for_status().json()
        headers = {"Authorization": f"Bearer {stream['token']}"}
        for seq in range(DEMO_CLIPS):
            clip = data_dir / "demo" / f"{seq:06d}.webm"
            clip.parent.mkdir(parents=True, exist_ok=True)
            write_clip(clip, seconds=DEMO_SECONDS, width=320, height=180, fps=25)
            grant = api.post(f"/v1/streams/{stream['id']}/uploads", json={"seq": seq, "ext": "webm"},
                             headers=headers).raise_for_status().json()
            httpx.post(grant["url"], data=grant["fields"],
                       files={"file": (clip.name, clip.read_bytes(), "video/webm")}).raise_for_status()
            api.post(f"/v1/streams/{stream['id']}/clips", json={"seq": seq, "key": grant["key"]},
                     headers=headers).raise_for_status()
            print(f"demo: clip {seq} uploaded and registered", flush=True)
        api.post(f"/v1/streams/{stream['id']}/stop", headers=headers).raise_for_status()
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            status = api.get(f"/v1/streams/{stream['id']}", headers=headers).raise_for_status().json()
            line = " ".join(f"clip{c['seq']}={c['state']}({c['frames_done']}/{c['frames_total'] or '?'})"
                            for c in status["clips"])
            if line != last:
                print(f"demo: {line}", flush=True)
                last = line
            if status["state"] == "ended":
                print(f"demo: done. Enhanced playlist: {stream['playlist_url']}", flush=True)
                return stream["playlist_url"]
            time.sleep(1)
    raise TimeoutError("the demo stream did not finish in time")
