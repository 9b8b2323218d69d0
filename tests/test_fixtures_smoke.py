import asyncio

import httpx

from services.core.storage import open_store


def test_bucket_serves_hls_publicly_and_keeps_inputs_private(settings):
    async def put_both() -> None:
        async with open_store(settings) as store:
            await store.put_bytes("streams/abc/hls/index.m3u8", b"#EXTM3U\n", cache_control="no-cache")
            await store.put_bytes("streams/abc/input/000000.webm", b"secret")

    asyncio.run(put_both())
    public = httpx.get(f"{settings.s3_browser_url}/streams/abc/hls/index.m3u8")
    assert public.status_code == 200
    assert public.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert public.headers["cache-control"] == "no-cache"
    assert httpx.get(f"{settings.s3_browser_url}/streams/abc/input/000000.webm").status_code == 403
