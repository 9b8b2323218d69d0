"""Test videos: the same generator `sharpr up --demo` uses."""

from services.demo_media import moving_pattern, write_clip

__all__ = ["moving_pattern", "write_clip"]
