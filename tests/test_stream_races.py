"""Two writers on one record, against the real Redis: every transition reads and writes the
record as stored in one transaction, so none undoes another's change (issue 23 item 8).
Before, a stop wrote back the stream as read when its request was authenticated."""

import threading

from services.core.clip_transitions import fail_clip, record_progress, register_clip
from services.core.live_source import LiveSource, start_following
from services.core.schemas import ClipState, Enhancement, StreamState
from services.core.stream_transitions import end_stream, fail_stream
from services.core.streams import StreamStore


def new_stream(settings, redis) -> tuple[StreamStore, str]:
    streams = StreamStore(redis, settings.stream_ttl_seconds)
    return streams, streams.create_stream(Enhancement())[0].id


def test_a_stop_with_the_stream_read_before_a_failure_leaves_it_failed(settings, redis):
    streams, stream_id = new_stream(settings, redis)
    read_at_authentication = streams.get_stream(stream_id)
    fail_stream(streams, stream_id, "follow_failed", "the source went away")

    after = end_stream(streams, settings, read_at_authentication)

    stored = streams.get_stream(stream_id)
    assert (stored.state, stored.error) == (StreamState.failed, "follow_failed: the source went away")
    assert after == stored


def test_a_stop_with_the_stream_read_before_following_began_keeps_the_source(settings, redis):
    streams, stream_id = new_stream(settings, redis)
    read_at_authentication = streams.get_stream(stream_id)
    assert start_following(streams, settings, stream_id, LiveSource(playlist_url="https://example.com/live.m3u8"))

    end_stream(streams, settings, read_at_authentication)

    stored = streams.get_stream(stream_id)
    assert (stored.state, stored.live_source) == (StreamState.ending, True)


def test_a_write_that_lands_between_the_read_and_the_write_is_kept(settings, redis):
    """What WATCH/MULTI buys: the other write made while `change` runs aborts this one's
    write, which is then made again on the record as it now is."""
    streams, stream_id = new_stream(settings, redis)
    seen = []

    def stop_while_another_fails(current):
        seen.append(current.state)
        if len(seen) == 1:  # another process fails the stream right now
            fail_stream(StreamStore(redis, settings.stream_ttl_seconds), stream_id, "ingest_failed", "gone")
        return current.model_copy(update={"error": f"{current.error} (seen)"})

    streams.update_stream(stream_id, stop_while_another_fails)

    stored = streams.get_stream(stream_id)
    assert seen == [StreamState.live, StreamState.failed]  # run again on what the other wrote
    assert (stored.state, stored.error) == (StreamState.failed, "ingest_failed: gone (seen)")


def test_progress_writes_racing_the_packager_s_failure_never_undo_it(settings, redis):
    streams, stream_id = new_stream(settings, redis)
    register_clip(streams, settings, stream_id, 0, f"streams/{stream_id}/input/000000.webm")
    done = threading.Event()

    def worker_progress() -> None:
        frames = 0
        while not done.is_set():
            frames += 1
            record_progress(streams, stream_id, 0, frames_done=frames, frames_total=10**6, parts_done=0)

    writer = threading.Thread(target=worker_progress)
    writer.start()
    try:
        for _ in range(20):
            fail_clip(streams, stream_id, 0, "bad_segments", "a part could not be cut")
            assert streams.get_clip(stream_id, 0).state == ClipState.failed
            streams.update_clip(stream_id, 0, state=ClipState.upscaling)  # and again
    finally:
        done.set()
        writer.join()
    fail_clip(streams, stream_id, 0, "bad_segments", "a part could not be cut")
    assert streams.get_clip(stream_id, 0).state == ClipState.failed
