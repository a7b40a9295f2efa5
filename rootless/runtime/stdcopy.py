"""Docker's stdcopy framing: now rootless.wire.stdcopy (issue 8).

TODO(engine-core): use wire.stdcopy.frame in engine/execs.py; runtime/monitor.py
(module-splits) switches too, then this module goes.
"""
from __future__ import annotations

from rootless.wire.stdcopy import HEADER, MAX_FRAME, NAME_OF_STREAM, STDERR, STDIN, STDOUT, STREAM_OF_NAME
from rootless.wire.stdcopy import Demuxer as FrameDecoder
from rootless.wire.stdcopy import frame as stdcopy_frame

__all__ = ["HEADER", "MAX_FRAME", "NAME_OF_STREAM", "STDERR", "STDIN", "STDOUT", "STREAM_OF_NAME",
           "FrameDecoder", "stdcopy_frame"]
