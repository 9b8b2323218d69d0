"""The playlist rules, checked on pure data; every playlist is read back with `m3u8`."""

import m3u8
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.hls_playlist import SegmentTooLong, render_playlist, target_duration
from services.core.playlist_record import Segment
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
