"""Pose stress scenes (``demo_generator.stress``): sizes, ground truth and determinism."""
import numpy as np

from core.io import load_json
from core.metadata import load_metadata
from core.video import iter_frames, probe_video
from demo_generator import stress
from demo_generator.stress import GROUND_TRUTH_NAME, STRESS_ARTIST, STRESS_SCENES, VIDEO_NAME


def test_scenes_cover_the_issue_framings():
    assert len(STRESS_SCENES) == 6
    assert {(s.width, s.height) for s in STRESS_SCENES} == {(1280, 720), (1920, 1080)}
    fractions = [p.height_fraction for s in STRESS_SCENES for p in s.performers]
    assert min(fractions) == 0.25 and max(fractions) == 0.5
    assert any(p.appearance == "full_body" for s in STRESS_SCENES for p in s.performers)
    assert all(s.crowd_rows or s.posters for s in STRESS_SCENES)
    assert any(s.dim < 0.5 for s in STRESS_SCENES)
    assert any(p.instrument_cover > 0 for s in STRESS_SCENES for p in s.performers)


def test_a_1080p_scene_is_written_with_consistent_ground_truth(tmp_path):
    name = "mixed_1080p"
    stress.generate_stress(tmp_path, 0.2, (name,))           # 6 frames
    song = tmp_path / STRESS_ARTIST / name
    info = probe_video(song / VIDEO_NAME)
    assert (info.width, info.height, info.n_frames) == (1920, 1080, 6)
    truth = load_json(song / GROUND_TRUTH_NAME)
    scene = stress.SCENES_BY_NAME[name]
    assert truth["layout"] == [p.instrument for p in scene.performers]
    (meta,) = load_metadata(tmp_path / "dataset_metadata.json")
    assert list(meta.layout) == truth["layout"] and meta.fps == 30.0
    for spec in scene.performers:
        gt = truth["performers"][spec.instrument]
        boxes, faces = np.asarray(gt["boxes"]), np.asarray(gt["face_centre"])
        assert boxes.shape == (6, 4) and faces.shape == (6, 2)
        # the sprite is scaled to its height fraction (a small body rotation widens the box a bit)
        heights = boxes[:, 3] - boxes[:, 1]
        assert np.all(np.abs(heights - spec.height_fraction * 1080) < 0.03 * spec.height_fraction * 1080)
        assert np.all((faces[:, 0] > boxes[:, 0]) & (faces[:, 0] < boxes[:, 2]) &
                      (faces[:, 1] > boxes[:, 1]) & (faces[:, 1] < boxes[:, 3]))
        sprite = stress.APPEARANCES[spec.appearance]
        expected = sprite.face_size * sprite.scale * spec.height_fraction * 1080 / (
            round((sprite.crop[3] - sprite.crop[1]) * sprite.scale))
        assert abs(gt["face_size"] - expected) < 1e-6 * expected


def test_same_scene_same_bytes(tmp_path):
    for out in (tmp_path / "a", tmp_path / "b"):
        stress.generate_stress(out, 0.1, ("wide_crowd_720p",))
    a = [f for _, f in iter_frames(tmp_path / "a" / STRESS_ARTIST / "wide_crowd_720p" / VIDEO_NAME)]
    b = [f for _, f in iter_frames(tmp_path / "b" / STRESS_ARTIST / "wide_crowd_720p" / VIDEO_NAME)]
    assert len(a) == 3 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert (tmp_path / "a" / STRESS_ARTIST / "wide_crowd_720p" / GROUND_TRUTH_NAME).read_bytes() == \
        (tmp_path / "b" / STRESS_ARTIST / "wide_crowd_720p" / GROUND_TRUTH_NAME).read_bytes()
