"""The MediaPipe backend on real photographs: worker processes give the same answer as in-process."""
import numpy as np
import pytest

from pose_estimation.mediapipe_backend import MediaPipeOptions, estimate_poses
from tests.pose_estimation.pose_fixtures import stage_canvas


@pytest.mark.slow
def test_worker_processes_match_in_process_and_keep_frame_order():
    canvas, photo_boxes = stage_canvas()
    frames = [np.roll(canvas, 2 * f, axis=1) for f in range(6)]
    inline = list(estimate_poses(enumerate(frames), MediaPipeOptions(n_workers=0)))
    pooled = list(estimate_poses(enumerate(frames), MediaPipeOptions(n_workers=2, max_in_flight=2)))
    assert [i for i, _ in inline] == [i for i, _ in pooled] == list(range(6))
    for (_, a), (_, b) in zip(inline, pooled):
        assert len(a) == len(b) == 3
        for pa, pb in zip(sorted(a, key=lambda p: p["box"][0]), sorted(b, key=lambda p: p["box"][0])):
            np.testing.assert_allclose(pa["keypoints"], pb["keypoints"], atol=1e-3)
            np.testing.assert_allclose(pa["scores"], pb["scores"], atol=1e-4)
    # each person box lies in its own photograph (shifted by the roll)
    for f, persons in inline:
        for person, (x0, y0, x1, y1) in zip(sorted(persons, key=lambda p: p["box"][0]), photo_boxes):
            cx = (person["box"][0] + person["box"][2]) / 2
            assert x0 + 2 * f - 10 <= cx <= x1 + 2 * f + 10
            assert person["keypoints"].dtype == np.float32 and person["scores"].max() <= 1.0
