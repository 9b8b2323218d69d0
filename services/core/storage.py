"""Async S3 client (aioboto3) with the few operations SharprAI needs.

Transient failures (5xx, throttling, dropped connections) are retried by botocore's
"standard" retry mode: exponential backoff with full jitter, up to `MAX_ATTEMPTS`.
Presigned URLs are signed against the *public* endpoint, because the browser, not this
process, will send them, and the host is part of the signature. Files go up through
aioboto3's managed transfer and come down as a stream, so a long video never sits in memory.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import aioboto3
import aiohttp
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from services.core.bucket_rules import cors_rules, public_read_policy
from services.core.errors import Unavailable
from services.core.settings import Settings

MAX_ATTEMPTS = 8
DELETE_BATCH = 1000
# Parts of a multipart upload in flight at once. With one more read ahead, an upload holds
# a handful of parts in memory (aioboto3 also keeps the first part and copies bodies),
# whatever the file's size.
PARTS_IN_FLIGHT = 2
PLAYLIST_CACHE_CONTROL = "no-cache"
SEGMENT_CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "webm": "video/webm",
}


def content_type_for(key: str) -> str:
    return CONTENT_TYPES.get(key.rsplit(".", 1)[-1], "application/octet-stream")


def object_headers(key: str, cache_control: str | None) -> dict[str, str]:
    """What every object is stored with: its content type, and a Cache-Control if given."""
    headers = {"ContentType": content_type_for(key)}
    if cache_control:
        headers["CacheControl"] = cache_control
    return headers


def transfer_config(part_bytes: int) -> TransferConfig:
    """Multipart above `part_bytes`, in parts of that size, a bounded number at a time
    (boto3's default reads up to 100 parts ahead of the uploads)."""
    return TransferConfig(
        multipart_threshold=part_bytes,
        multipart_chunksize=part_bytes,
        max_concurrency=PARTS_IN_FLIGHT,
        max_io_queue=1,
        io_chunksize=min(part_bytes, 256 * 1024),
    )


class ObjectReplaced(Exception):
    """The key holds another object than the one asked for (its ETag changed)."""


class ObjectStore:
    def __init__(
        self,
        client: Any,
        presign_client: Any,
        http: aiohttp.ClientSession,
        bucket: str,
        part_bytes: int,
    ) -> None:
        self.client = client
        self.presign_client = presign_client
        self.http = http
        self.bucket = bucket
        self.transfer = transfer_config(part_bytes)

    async def put_bytes(self, key: str, body: bytes, *, cache_control: str | None = None) -> None:
        await self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, **object_headers(key, cache_control)
        )

    async def put_file(self, key: str, path: Path, *, cache_control: str | None = None) -> None:
        """One PUT for a small file; a multipart upload, a few parts at a time, for a large one."""
        headers = object_headers(key, cache_control)
        await self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs=headers, Config=self.transfer
        )

    async def peek(self, key: str, size: int) -> tuple[int, bytes, str | None] | None:
        """(object size, its first `size` bytes, its ETag), or None if absent: a clip's
        length and container magic, checked on every registration, and what it was then.

        A presigned GET sent with plain aiohttp: botocore's request pipeline (endpoint
        rules, event hooks, XML parsing) costs about 1.2 ms of CPU per call, this 0.45 ms,
        and registration is the API's hottest S3 call. A 5xx is not retried here: the
        client retries the registration.
        """
        url = await self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=60
        )
        async with self.http.get(url, headers={"Range": f"bytes=0-{size - 1}"}) as response:
            if response.status == 404:
                return None
            if response.status == 416:  # no byte 0 to give: the object is empty
                return 0, b"", response.headers.get("ETag")
            if response.status not in (200, 206):
                raise Unavailable(f"object storage answered {response.status}", code="s3_unavailable")
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            head = await response.read()
        return (int(total) if total.isdigit() else len(head)), head[:size], response.headers.get("ETag")

    async def download_file(self, key: str, path: Path, *, if_match: str | None = None) -> None:
        """Stream an object to disk in chunks (clips can be tens of MB); with `if_match`,
        only the object of that ETag (`ObjectReplaced` if the key now holds another).

        One GET read as it arrives, not aioboto3's managed download: that one adds a HEAD,
        holds each ranged part whole in memory, and turns a missing key's `ClientError`
        into a bare `Exception`.
        """
        condition = {} if if_match is None else {"IfMatch": if_match}
        try:
            response = await self.client.get_object(Bucket=self.bucket, Key=key, **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "PreconditionFailed":
                raise ObjectReplaced(key) from error
            raise
        body = response["Body"]
        try:
            with path.open("wb") as out:
                async for chunk in body.iter_chunks(1 << 20):
                    out.write(chunk)
        finally:
            body.close()

    async def head(self, key: str) -> dict[str, Any] | None:
        """Size and type of an object, or None if it does not exist."""
        try:
            response = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return {"size": response["ContentLength"], "content_type": response.get("ContentType")}

    async def list_objects(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        """(key, last modified as epoch seconds) of every object under `prefix`, a page
        (up to 1,000) at a time."""
        paginator = self.client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield item["Key"], item["LastModified"].timestamp()

    async def list_keys(self, prefix: str) -> list[str]:
        return [key async for key, _ in self.list_objects(prefix)]

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def delete_keys(self, keys: list[str]) -> None:
        """Delete objects, 1,000 per request (S3's limit); absent keys are no error."""
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start:start + DELETE_BATCH]
            answer = await self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            if answer.get("Errors"):
                raise Unavailable(f"object storage kept {len(answer['Errors'])} objects", code="s3_unavailable")

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`, each listed page as it comes (memory stays a
        page, and a run cut short has deleted what it listed); how many there were."""
        removed, batch = 0, []
        async for key, _ in self.list_objects(prefix):
            batch.append(key)
            if len(batch) == DELETE_BATCH:
                await self.delete_keys(batch)
                removed, batch = removed + len(batch), []
        await self.delete_keys(batch)
        return removed + len(batch)

    async def abort_stale_uploads(self, prefix: str, older_than: float) -> int:
        """Abort multipart uploads under `prefix` begun before `older_than` (epoch seconds):
        an upload whose writer died keeps its parts stored, unlisted, until aborted."""
        aborted = 0
        paginator = self.client.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() < older_than:
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted

    async def presign_post(self, key: str, max_bytes: int, expires: int) -> dict[str, Any]:
        """A browser upload of exactly this key; S3 itself refuses bodies over `max_bytes`."""
        return await self.presign_client.generate_presigned_post(
            self.bucket,
            key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=expires,
        )

    async def presign_get(self, key: str, expires: int) -> str:
        return await self.presign_client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )

    async def ensure_bucket(self, cors_origins: list[str]) -> None:
        """Create the bucket if needed, with its CORS rules and the public HLS policy."""
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            await self.client.create_bucket(Bucket=self.bucket)
        await self.client.put_bucket_cors(
            Bucket=self.bucket, CORSConfiguration=cors_rules(cors_origins)
        )
        await self.client.put_bucket_policy(
            Bucket=self.bucket, Policy=json.dumps(public_read_policy(self.bucket))
        )

    async def ping(self) -> None:
        await self.client.head_bucket(Bucket=self.bucket)


def _client_config() -> Config:
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=5,
        read_timeout=60,
    )


@lru_cache(maxsize=4)
def _session(access_key: str, secret_key: str, region: str) -> aioboto3.Session:
    """One session per process and identity: a new one parses botocore's S3 model again,
    0.05-0.2 s of CPU for each store opened (three per clip in a worker) where a kept one
    takes 0.035 s. Clients are made per store, in the store's event loop; a session is not
    thread-safe, and in every service one thread at a time opens a store."""
    return aioboto3.Session(
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
    )


def load_s3_model(settings: Settings) -> None:
    """Make (and close) one client now, so the process's session holds botocore's parsed S3
    model: a process forking a child per job calls this first, and each child inherits it
    instead of parsing it again (the packager: ~0.1 s of CPU per job)."""

    async def open_and_close() -> None:
        async with open_store(settings):
            pass

    asyncio.run(open_and_close())


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[ObjectStore]:
    """An `ObjectStore` for the lifetime of the block (one connection pool)."""
    session = _session(settings.s3_access_key, settings.s3_secret_key, settings.s3_region)
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            session.client("s3", endpoint_url=settings.s3_endpoint_url, config=_client_config())
        )
        public = settings.s3_public_url or settings.s3_endpoint_url
        presign_client = await stack.enter_async_context(
            session.client("s3", endpoint_url=public, config=_client_config())
        )
        http = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30), trust_env=False)
        )
        yield ObjectStore(client, presign_client, http, settings.s3_bucket, settings.s3_part_bytes)
