"""The playlist rules, checked on pure data; every playlist is read back with `m3u8`."""

import math

import m3u8
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.hls_playlist import SegmentTooLong, render_playlist, slid, slide, target_duration
from services.core.playlist_record import PlaylistRecord, Segment
from services.core.schemas import ClipState
from services.packager.playlist import Action, Plan, Step, plan_packaging

E, F, W = ClipState.encoded, ClipState.failed, ClipState.upscaling


def segments_for(seqs: list[int], per_clip: int = 2, seconds: float = 2.0) -> list[Segment]:
    return [
        Segment(uri=f"{seq:06d}_{n:03d}.ts", duration=seconds, seq=seq)
        for seq in seqs
        for n in range(per_clip)
    ]


def parsed(text: str) -> m3u8.M3U8:
    playlist = m3u8.loads(text)
    assert text.startswith("#EXTM3U\n")
    assert playlist.version == 3
    assert playlist.media_sequence == 0
    assert playlist.playlist_type == "event"
    for segment in playlist.segments:
        assert round(segment.duration) <= playlist.target_duration
    return playlist


def parsed_sliding(text: str) -> m3u8.M3U8:
    """A sliding playlist: no type, both sequences written before the first segment."""
    playlist = m3u8.loads(text)
    assert playlist.version == 3
    assert playlist.playlist_type is None
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:" in text.split("#EXTINF")[0]
    return playlist


def packaged(plan: Plan) -> list[int]:
    return [step.seq for step in plan.steps if step.action == Action.package]


def test_target_duration_comes_from_configured_segment_length():
    assert target_duration(2.0) == 3
    assert target_duration(2.5) == 4
    assert target_duration(6) == 7


def test_live_playlist_is_an_event_without_endlist():
    text = render_playlist(segments_for([0, 1]), target=3, ended=False)
    playlist = parsed(text)
    assert not playlist.is_endlist
    assert playlist.target_duration == 3
    assert [s.uri for s in playlist.segments] == [
        "000000_000.ts", "000000_001.ts", "000001_000.ts", "000001_001.ts"
    ]
    assert [s.duration for s in playlist.segments] == [2.0] * 4


def test_ended_playlist_closes_with_endlist():
    playlist = parsed(render_playlist(segments_for([0]), target=3, ended=True))
    assert playlist.is_endlist
    assert len(playlist.segments) == 2


def test_segment_over_target_duration_is_refused():
    # 3.49 s rounds to 3 (allowed with target 3); 3.5 s rounds to 4 (not allowed).
    parsed(render_playlist(segments_for([0], seconds=3.49), target=3, ended=False))
    with pytest.raises(SegmentTooLong):
        render_playlist(segments_for([0], seconds=3.5), target=3, ended=False)


def test_discontinuity_is_marked_before_the_flagged_segment():
    segments = segments_for([0]) + [Segment(uri="000001_000.ts", duration=1.5, seq=1, discontinuity=True)]
    playlist = parsed(render_playlist(segments, target=3, ended=False))
    assert [s.discontinuity for s in playlist.segments] == [False, False, True]


def test_out_of_order_clips_keep_playlist_contiguous():
    # Clip 2 finished before clip 1: only clip 0 can be published.
    plan = plan_packaging(0, {0: E, 1: W, 2: E}, ending=False)
    assert packaged(plan) == [0]
    assert plan.next_seq(0) == 1
    assert not plan.complete
    # Clip 1 finishes: 1 and 2 go out together, in order.
    plan = plan_packaging(1, {0: ClipState.packaged, 1: E, 2: E}, ending=False)
    assert packaged(plan) == [1, 2]
    assert plan.next_seq(1) == 3


def test_failed_clip_is_skipped_and_contributes_nothing():
    plan = plan_packaging(0, {0: E, 1: F, 2: E}, ending=False)
    assert [(s.seq, s.action) for s in plan.steps] == [
        (0, Action.package), (1, Action.skip), (2, Action.package)
    ]


def test_missing_clip_stalls_while_live():
    plan = plan_packaging(0, {0: E, 2: E}, ending=False)
    assert packaged(plan) == [0]
    assert plan.next_seq(0) == 1


def test_gap_is_skipped_once_stream_is_ending():
    plan = plan_packaging(1, {0: ClipState.packaged, 2: E}, ending=True)
    assert [(s.seq, s.action) for s in plan.steps] == [(1, Action.skip), (2, Action.package)]
    assert plan.complete


def test_endlist_only_when_stopped_and_every_clip_is_done():
    assert not plan_packaging(0, {0: E}, ending=False).complete
    assert not plan_packaging(0, {0: E, 1: W}, ending=True).complete
    assert plan_packaging(0, {0: E, 1: F}, ending=True).complete
    assert plan_packaging(0, {}, ending=True).complete
    # Everything already published, then the stop arrives.
    assert plan_packaging(2, {0: ClipState.packaged, 1: ClipState.packaged}, ending=True).complete


def test_empty_ended_playlist_is_valid():
    playlist = parsed(render_playlist([], target=3, ended=True))
    assert playlist.is_endlist and not playlist.segments


FINAL = st.sampled_from([ClipState.encoded, ClipState.failed])


@given(
    outcomes=st.lists(st.tuples(FINAL, st.booleans()), min_size=0, max_size=12),
    order=st.randoms(use_true_random=False),
)
def test_any_completion_order_yields_a_valid_contiguous_playlist(outcomes, order):
    """Clips finish in any order, some fail, some never register; the stream then stops.

    After every event the packager runs; at the end the playlist holds exactly the
    encoded clips, in seq order, each once, and is closed with ENDLIST.
    """
    registered = [seq for seq, (_, present) in enumerate(outcomes) if present]
    finish = registered[:]
    order.shuffle(finish)
    clips: dict[int, ClipState] = {seq: ClipState.queued for seq in registered}
    next_seq, published, ended = 0, [], False

    def run_packager(ending: bool) -> None:
        nonlocal next_seq, ended
        plan = plan_packaging(next_seq, clips, ending=ending)
        for step in plan.steps:
            assert step.seq == next_seq  # contiguous: no seq jumped over
            assert step.action == (Action.package if clips.get(step.seq) == ClipState.encoded else Action.skip)
            if step.action == Action.package:
                published.append(step.seq)
                clips[step.seq] = ClipState.packaged
            next_seq += 1
        assert not (plan.complete and not ending)
        ended = plan.complete

    for seq in finish:
        clips[seq] = outcomes[seq][0]
        run_packager(ending=False)
        assert published == sorted(published)
    run_packager(ending=True)

    expected = [seq for seq in registered if outcomes[seq][0] == ClipState.encoded]
    assert published == expected
    assert ended
    playlist = parsed(render_playlist(segments_for(published), target=3, ended=ended))
    assert playlist.is_endlist
    assert [s.uri for s in playlist.segments] == [s.uri for s in segments_for(expected)]


def test_parts_of_a_clip_still_in_the_worker_are_published_and_hold_the_clips_after_it():
    plan = plan_packaging(0, {0: W, 1: E}, ending=False, parts={0: 2, 1: 3})
    assert plan.steps == (Step(0, Action.partial, 2),)
    assert plan.next_seq(0) == 0 and not plan.complete


def test_a_failed_clip_keeps_the_parts_it_got_out():
    plan = plan_packaging(0, {0: F, 1: E}, ending=True, parts={0: 1, 1: 2})
    assert plan.steps == (Step(0, Action.skip, 1), Step(1, Action.package, 2))
    assert plan.complete


# --- sliding playlists (a stream that follows a live source) ------------------------------

def test_sliding_playlist_has_no_type_and_numbers_its_first_segment():
    segments = segments_for([7]) + [Segment(uri="000008_000.ts", duration=2.0, seq=8, discontinuity=True)]
    text = render_playlist(segments, target=3, ended=False, media_sequence=14,
                           discontinuity_sequence=2, sliding=True)
    playlist = parsed_sliding(text)
    assert "#EXT-X-PLAYLIST-TYPE" not in text
    assert playlist.media_sequence == 14 and playlist.discontinuity_sequence == 2
    assert [s.media_sequence for s in playlist.segments] == [14, 15, 16]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True]
    assert not playlist.is_endlist
    ended = parsed_sliding(render_playlist(segments, target=3, ended=True, media_sequence=14, sliding=True))
    assert ended.is_endlist and ended.playlist_type is None  # the type never changes (§6.2.1)


def test_event_playlist_keeps_its_sequences_at_zero():
    text = render_playlist(segments_for([0]), target=3, ended=False)
    assert "#EXT-X-DISCONTINUITY-SEQUENCE" not in text
    parsed(text)
    with pytest.raises(ValueError, match="EVENT"):
        render_playlist(segments_for([0]), target=3, ended=False, media_sequence=1)


def test_slide_keeps_the_window_and_advances_the_media_sequence_by_what_left():
    segments = segments_for(list(range(10)))  # 20 segments of 2 s
    kept, removed, discontinuities = slide(segments, keep_seconds=11, target=3)
    assert (len(kept), removed, discontinuities) == (6, 14, 0)  # 12 s: 10 s would be short
    assert kept == segments[14:]
    # A window exactly `keep_seconds` long is kept whole.
    assert len(slide(segments, keep_seconds=10, target=3)[0]) == 5
    # Shorter than the window: nothing leaves.
    assert slide(segments[:5], keep_seconds=11, target=3) == (segments[:5], 0, 0)


def test_slide_never_leaves_less_than_three_target_durations():
    segments = segments_for(list(range(10)))
    kept, removed, _ = slide(segments, keep_seconds=1, target=3)
    assert sum(s.duration for s in kept) == 10.0  # 9 s at least, in whole segments
    assert removed == 15
    long = segments_for(list(range(10)), seconds=3.4)
    assert sum(s.duration for s in slide(long, keep_seconds=1, target=3)[0]) >= 9


def test_discontinuity_sequence_advances_only_by_removed_tags():
    segments = segments_for(list(range(6)))
    for index in (1, 4, 8):
        segments[index] = segments[index].model_copy(update={"discontinuity": True})
    _, removed, discontinuities = slide(segments, keep_seconds=14, target=3)
    assert removed == 5 and discontinuities == 2  # the tags at 1 and 4 left, 8's stayed
    record = slid(PlaylistRecord(segments=segments, media_sequence=3, discontinuity_sequence=1),
                  keep_seconds=14, target=3)
    assert (record.media_sequence, record.discontinuity_sequence) == (8, 3)
    playlist = parsed_sliding(render_playlist(
        record.segments, target=3, ended=False, media_sequence=record.media_sequence,
        discontinuity_sequence=record.discontinuity_sequence, sliding=True,
    ))
    assert [s.discontinuity for s in playlist.segments] == [False, False, False, True, False, False, False]
    # The first segment kept may carry a tag: it did not leave, so it is not counted.
    assert slide(segments, keep_seconds=14.5, target=3)[1:] == (4, 1)


@given(
    durations=st.lists(
        st.tuples(st.floats(min_value=0.5, max_value=3.4), st.booleans()), min_size=1, max_size=40,
    ),
    keep_seconds=st.floats(min_value=0, max_value=30),
)
def test_a_sliding_playlist_numbers_every_segment_the_same_on_every_reload(durations, keep_seconds):
    """Segments are appended one at a time and the window slides after each, as the
    packager does. On every reload a player can place each segment it saw before: the
    same media sequence number (§6.2.2, §6.3.5) and the same discontinuity sequence
    number (§4.3.3.3) for the same URI; the window lasts at least three target durations
    or holds everything published; only the oldest segments leave."""
    record, numbers, published = PlaylistRecord(), {}, []
    for n, (seconds, jump) in enumerate(durations):
        published.append(Segment(uri=f"{n:06d}_000.ts", duration=seconds, seq=n, discontinuity=jump))
        record = slid(record.model_copy(update={"segments": [*record.segments, published[-1]]}),
                      keep_seconds=keep_seconds, target=3)
        playlist = parsed_sliding(render_playlist(
            record.segments, target=3, ended=False, media_sequence=record.media_sequence,
            discontinuity_sequence=record.discontinuity_sequence, sliding=True,
        ))
        assert [s.uri for s in playlist.segments] == [s.uri for s in published[record.media_sequence:]]
        kept = sum(s.duration for s in record.segments)
        assert kept >= min(max(keep_seconds, 9), sum(s.duration for s in published)) - 1e-9
        assert math.fsum(s.duration for s in record.segments[1:]) < max(keep_seconds, 9)  # no more left
        discontinuity = playlist.discontinuity_sequence
        for segment in playlist.segments:
            discontinuity += segment.discontinuity
            number = (segment.media_sequence, discontinuity)
            assert numbers.setdefault(segment.uri, number) == number
