"""The rules for growing the stream's media playlist (RFC 8216): which clips and parts
to append next.

Pure functions only: the playlist record and the clips' states in, a plan out. The record
(`services.core.playlist_record`) and the playlist's text (`services.core.hls_playlist`)
are core's; writing S3 is the job's business (`services.packager.jobs`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.core.schemas import ClipState


class Action(StrEnum):
    package = "package"  # publish its remaining parts; the clip is then done
    partial = "partial"  # publish the parts out so far; the clip is still being encoded
    skip = "skip"  # publish the parts it has (a failed clip keeps them) and go past it


@dataclass(frozen=True)
class Step:
    seq: int
    action: Action
    parts: int = 0  # parts of the clip published by the worker, all to be in the playlist


@dataclass(frozen=True)
class Plan:
    """Clips to handle now, in order, and whether the playlist is then complete."""

    steps: tuple[Step, ...]
    complete: bool

    def next_seq(self, current: int) -> int:
        if not self.steps:
            return current
        last = self.steps[-1]
        return last.seq if last.action == Action.partial else last.seq + 1


def plan_packaging(
    next_seq: int, clips: Mapping[int, ClipState], *, ending: bool,
    parts: Mapping[int, int] | None = None,
) -> Plan:
    """The contiguous run of clips, and of parts within a clip, publishable from `next_seq`.

    Segments are only ever appended (§6.2.1), so a clip that finished early waits for
    the ones before it, and a clip's parts come in order (`parts`: how many the worker
    has published per clip). An encoded clip is packaged; a failed one contributes the
    parts it got out; a clip still in the worker contributes its parts so far and stops
    the run. A missing seq stops the run while the stream is live (its upload may still
    come), but once the stream is ending no new clip can be registered, so a gap below
    the highest registered seq is skipped and nothing stalls.
    """
    parts = parts or {}
    last = max(clips, default=-1)
    steps: list[Step] = []
    seq = next_seq
    while seq <= last:
        state, ready = clips.get(seq), parts.get(seq, 0)
        if state is None:
            if not ending:
                break
            steps.append(Step(seq, Action.skip))
        elif state in (ClipState.encoded, ClipState.packaged):
            # Packaged at or after next_seq: the packager died after writing the playlist
            # but before saving its state; the clip is packaged again with the same keys.
            steps.append(Step(seq, Action.package, ready))
        elif state == ClipState.failed:
            steps.append(Step(seq, Action.skip, ready))
        else:
            if ready:
                steps.append(Step(seq, Action.partial, ready))
            break
        seq += 1
    return Plan(steps=tuple(steps), complete=ending and seq > last)
