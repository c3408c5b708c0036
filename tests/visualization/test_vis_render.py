from pathlib import Path

import numpy as np
import pytest

from core.video import VideoInfo
from visualization.render import BackgroundEncoder, clip_frames, format_seconds


class RecordingWriter:
    """Stands in for core.video.VideoWriter: records frames, fails at frame ``fail_at``."""

    def __init__(self, fail_at=None):
        self.frames, self.fail_at = [], fail_at

    def write(self, frame):
        if len(self.frames) == self.fail_at:
            raise OSError("disk full")
        self.frames.append(int(frame[0, 0]))


def test_background_encoder_keeps_order_and_reports_errors():
    writer = RecordingWriter()
    encoder = BackgroundEncoder(writer, depth=2)
    for k in range(50):
        encoder.write(np.full((2, 2), k))
    encoder.finish()
    assert writer.frames == list(range(50))

    failing = BackgroundEncoder(RecordingWriter(fail_at=3), depth=2)
    with pytest.raises(OSError, match="disk full"):
        for k in range(50):
            failing.write(np.full((2, 2), k))
        failing.finish()


def _video(n_frames=120, fps=30.0):
    return VideoInfo(path=Path("v.mov"), fps=fps, n_frames=n_frames, width=64,
                     height=48, duration=n_frames / fps, codec="h264")


def test_clip_frames_defaults_rounding_and_clipping(caplog):
    assert clip_frames(_video(1000), 0, None) == (0, 600)            # 20 s by default
    assert clip_frames(_video(1000, fps=29.97), 1.0, 2.0) == (30, 60)
    with caplog.at_level("WARNING"):
        assert clip_frames(_video(120), 1.0, 30.0) == (30, 120)
    assert "past the end" in caplog.text
    with pytest.raises(ValueError):
        clip_frames(_video(), 2.0, 1.0)
    with pytest.raises(Exception, match="past the end"):
        clip_frames(_video(120), 5.0, 6.0)


def test_file_name_numbers_are_formatted_like_the_published_tool():
    assert [format_seconds(v) for v in (0, 20.0, 12.5, 4.0333333)] == ["0", "20", "12.5", "4.03"]
