"""Server-sent events of a stream's progress, built by polling Redis.

Polling (twice a second, two reads from the event loop) keeps the writers simple: workers only write state,
nobody has to publish. The generator ends once the stream has ended or failed.
"""

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Request

from services.core.schemas import StreamState
from services.core.streams import StreamReader

POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0
FINAL_STATES = (StreamState.ended, StreamState.failed)


def sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def stream_events(request: Request, reader: StreamReader, stream_id: str) -> AsyncIterator[str]:
    seen: dict[int, float] = {}
    last_state: StreamState | None = None
    idle = 0.0
    yield "retry: 2000\n\n"
    while not await request.is_disconnected():
        stream = await reader.get_stream(stream_id)
        if stream is None:
            yield sse("stream", json.dumps({"id": stream_id, "state": "expired"}))
            return
        sent = False
        for clip in await reader.get_clips(stream_id):
            if seen.get(clip.seq) != clip.updated_at:
                seen[clip.seq] = clip.updated_at
                yield sse("clip", clip.model_dump_json())
                sent = True
        if stream.state != last_state:
            last_state = stream.state
            yield sse("stream", json.dumps({"id": stream_id, "state": stream.state}))
            sent = True
        if stream.state in FINAL_STATES:
            return
        idle = 0.0 if sent else idle + POLL_SECONDS
        if idle >= HEARTBEAT_SECONDS:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_SECONDS)
