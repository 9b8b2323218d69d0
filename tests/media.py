"""Test videos: the same generator `sharpr up --demo` uses."""

from services.demo_media import drawn_on_twos, moving_pattern, write_clip

__all__ = ["drawn_on_twos", "moving_pattern", "write_clip"]
