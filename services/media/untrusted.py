"""Opening a file that came from outside: only the demuxers real clips and sources use, and
no protocol but the local file.

FFmpeg picks a demuxer by sniffing the content, not the name, so an upload called clip.mp4
that is really an ffconcat list, an HLS playlist or a DASH manifest would have the demuxer
open whatever files or URLs it names (seen here: such an "mp4" read the file beside it).
"""

from pathlib import Path

import av
from av.container import InputContainer

# MediaRecorder's WebM, phones' MP4 and MOV, Matroska, HLS's MPEG-TS segments, the AVI,
# FLV, Ogg, MPEG-PS and ASF of old footage, animated GIF, and the still images a renamed
# picture sniffs as (refused later with their own message).
DEMUXERS = "mov,matroska,mpegts,avi,flv,ogg,mpeg,asf,gif,png_pipe,jpeg_pipe,webp_pipe"
OPTIONS = {"protocol_whitelist": "file", "format_whitelist": DEMUXERS}


def open_media(path: Path) -> InputContainer:
    """`path` opened for reading under the lists above; an FFmpegError when it is none of them."""
    return av.open(str(path), container_options=OPTIONS)
