"""Hostile and damaged inputs for the trust tests (issue 11): pickle payloads that would create a
marker file when loaded the unsafe way, and a video whose container promises more frames than it
holds. A plain module, imported as ``from crafted_inputs import ...`` like ``conftest.run_cli``.
"""
from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np


class TouchPayload:
    """Unpickling this object calls ``builtins.open(marker, "w")``: the marker file appears."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.open, (self.marker, "w")


class ShellPayload:
    """Unpickling this object runs a shell command that creates the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


class ExecPayload:
    """Unpickling this object executes Python source that creates the marker."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


PAYLOADS = [TouchPayload, ShellPayload, ExecPayload]


def write_truncated_video(path: Path, n_frames: int, fps: float, keep: float = 0.45,
                          size: tuple[int, int] = (64, 48)) -> Path:
    """An H.264 .mov whose index (moov atom, written first) promises ``n_frames`` frames, cut to
    the first ``keep`` share of its bytes: it opens and probes normally, but decodes to fewer
    frames (what a copy interrupted part-way leaves)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    full = path.with_name(path.stem + ".full.mov")
    container = av.open(str(full), "w", options={"movflags": "faststart"})
    stream = container.add_stream("libx264", rate=int(fps))
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
    rng = np.random.default_rng(0)
    for _ in range(n_frames):
        frame = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[:int(len(data) * keep)])
    return path
