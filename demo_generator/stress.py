"""Stress scenes for the pose stage: real concert framing, with ground-truth performer boxes.

``python -m demo_generator.main OUT --stress`` writes ``STRESS_SCENES`` as songs of a dataset
(``OUT/Stress/<scene>/video.mov``, ``stress_ground_truth.json``, ``dataset_metadata.json``), so the
pose CLI runs on them like on any song. Each scene is a static wide shot of three performers made
from the real photographs of ``demo_generator.video`` and what makes finding them hard in concert
videos:

* **scale**: performers are scaled to ``height_fraction`` = 1/4 .. 1/2 of the frame height (the
  sprite's full height); ``full_body`` is the whole cameraman photograph (head to knees, face
  about 0.16 of the figure's height: ~29 px in a 720p frame at 1/4), the others are chest-up;
* **background faces**: ``crowd`` rows of small faces behind the performers (``skimage.data.
  lfw_subset``: 100 real 25x25 face photographs, scaled to ``crowd_face_px`` and tinted) on dark
  seat bands, and ``posters``: face-only crops of the photographs hung on the wall, larger than
  the crowd faces; both are static (the video is a still camera);
* **occlusion**: performers placed so that one covers part of another (drawn back to front in the
  order listed), and ``instruments``: a dark wooden ellipse over part of a performer's body;
* **light**: the composed frame is multiplied by a gain field ``g(x, y) = dim + (1 - dim) *
  exp(-|(x, y) - spot|^2 / (2 (spot_sigma * W)^2))`` (a spotlight on a dim stage; ``dim`` = 1
  means even light), then Gaussian sensor noise of ``noise`` grey levels is added per pixel and
  frame (seeded).

Performers move like the demo's (``video.performer_states`` with the ``MOTION`` style of their
instrument): a random onset train (Poisson, ``ONSETS_PER_S``) → ``video.motion_driver`` →
``video.stroke_motion`` (sway, body rotation, head nod and roll), scaled with the sprite.

Ground truth per performer: ``box`` (F, 4) xyxy of the placed sprite (clipped to the frame),
``face_centre`` (F, 2) and ``face_size`` (px, the sprite's face box side times the scale), in
frame pixels. Same scene and seconds → byte-identical video and ground truth (seeded noise,
deterministic libx264).
"""
from __future__ import annotations

import logging
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.io import atomic_path, load_json, save_json
from core.log import progress
from core.metadata import duration_for_frames

from . import video as dv

log = logging.getLogger(__name__)

STRESS_VERSION = 1
STRESS_ARTIST = "Stress"
STRESS_SECONDS = 4.0
GROUND_TRUTH_NAME = "stress_ground_truth.json"
VIDEO_NAME = "video.mov"
ONSETS_PER_S = 3.0

# The cameraman photograph nearly whole (head to knees): the full-body performer. Face centre and
# face size as in ``video.SPRITE_SOURCES["mridangam"]`` (same photograph, same source pixels).
FULL_BODY = dv.SpriteSource("camera", (100, 40, 400, 512), 1.0, (237.6, 160.7), 76.0,
                            tint=(1.0, 0.82, 0.66))
APPEARANCES = {"vocal": dv.SPRITE_SOURCES["vocal"], "violin": dv.SPRITE_SOURCES["violin"],
               "mridangam": dv.SPRITE_SOURCES["mridangam"], "full_body": FULL_BODY}
# Face-only crops (source-photo pixels) for wall posters.
POSTER_CROPS = {"astronaut": (180, 50, 310, 190), "grace_hopper": (160, 110, 372, 360)}


@dataclass(frozen=True)
class StressPerformer:
    instrument: str              # layout name and motion style (key of video.MOTION)
    appearance: str              # key of APPEARANCES
    x_fraction: float            # sprite bottom-centre x / frame width
    height_fraction: float       # sprite height / frame height
    bottom_fraction: float = 0.97    # sprite bottom y / frame height
    instrument_cover: float = 0.0    # > 0: an ellipse covers this share of the sprite height
                                     # from its bottom (an instrument in front of the body)


@dataclass(frozen=True)
class StressScene:
    name: str
    width: int
    height: int
    performers: tuple[StressPerformer, ...]      # left to right in the layout, drawn in order
    crowd_rows: int = 0
    crowd_face_px: tuple[float, float] = (18.0, 30.0)
    posters: int = 0
    poster_px: float = 90.0                      # poster height at 720p (scaled with the frame)
    dim: float = 1.0                             # gain far from the spotlight (1 = even light)
    spot: tuple[float, float] = (0.5, 0.6)       # spotlight centre (fractions of W, H)
    spot_sigma: float = 0.35
    noise: float = 2.0                           # sensor noise, grey levels (std)
    seed: int = field(default=0)


P = StressPerformer
STRESS_SCENES = (
    # the case: one full-body performer at a quarter of the frame height, two chest-up
    StressScene("wide_crowd_720p", 1280, 720, (
        P("mridangam", "full_body", 0.17, 0.25), P("vocal", "vocal", 0.50, 0.48),
        P("violin", "violin", 0.82, 0.42)), crowd_rows=3, seed=1),
    StressScene("posters_dim_720p", 1280, 720, (
        P("violin", "violin", 0.20, 0.36), P("vocal", "vocal", 0.50, 0.40),
        P("mridangam", "mridangam", 0.80, 0.34, instrument_cover=0.3)),
        posters=4, dim=0.35, spot=(0.5, 0.8), noise=3.0, seed=2),
    StressScene("overlap_uneven_720p", 1280, 720, (
        P("mridangam", "mridangam", 0.30, 0.40), P("vocal", "vocal", 0.45, 0.45),
        P("violin", "full_body", 0.75, 0.33, instrument_cover=0.25)),
        crowd_rows=2, dim=0.3, spot=(0.85, 0.6), spot_sigma=0.3, seed=3),
    StressScene("wide_crowd_1080p", 1920, 1080, (
        P("mridangam", "full_body", 0.15, 0.25), P("vocal", "vocal", 0.48, 0.30),
        P("violin", "full_body", 0.83, 0.27)), crowd_rows=4, crowd_face_px=(24.0, 44.0),
        posters=3, seed=4),
    StressScene("small_dim_1080p", 1920, 1080, (
        P("violin", "violin", 0.25, 0.25), P("vocal", "vocal", 0.50, 0.27, instrument_cover=0.2),
        P("mridangam", "mridangam", 0.75, 0.25)), crowd_rows=3, crowd_face_px=(24.0, 40.0),
        dim=0.3, spot=(0.15, 0.9), spot_sigma=0.4, noise=3.0, seed=5),
    StressScene("mixed_1080p", 1920, 1080, (
        P("vocal", "vocal", 0.22, 0.50), P("mridangam", "full_body", 0.50, 0.30,
                                           instrument_cover=0.3),
        P("violin", "violin", 0.76, 0.45)), crowd_rows=2, crowd_face_px=(26.0, 40.0), posters=2,
        dim=0.5, spot=(0.6, 0.5), seed=6),
)
SCENES_BY_NAME = {scene.name: scene for scene in STRESS_SCENES}


def scene_rng(scene: StressScene, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([scene.seed, zlib.crc32(stream.encode())]))


def render_background(scene: StressScene) -> np.ndarray:
    """(H, W, 3) float32 static background: wall, floor, crowd rows of real faces, face posters."""
    import cv2
    from skimage.data import lfw_subset

    w, h = scene.width, scene.height
    y = np.arange(h, dtype=np.float32)[:, None]
    floor_y = int(0.62 * h)
    canvas = np.empty((h, w, 3), np.float32)
    canvas[:] = np.array([150, 128, 100], np.float32) * (0.7 + 0.3 * y / floor_y)[..., None]
    canvas[floor_y:] = (120, 30, 36)
    rng = scene_rng(scene, "background")
    faces = lfw_subset()[:100]                       # the first 100 are faces, the rest are not
    for row in range(scene.crowd_rows):
        size = scene.crowd_face_px[0] + (scene.crowd_face_px[1] - scene.crowd_face_px[0]) * (
            row / max(scene.crowd_rows - 1, 1))
        top = int(0.30 * h + row * 1.5 * size)
        canvas[top + int(0.8 * size):top + int(1.5 * size)] = (45, 35, 40)       # seat band
        x = rng.uniform(0, size)
        while x < w - size:
            face = cv2.resize(faces[rng.integers(len(faces))].astype(np.float32),
                              (int(size), int(size)), interpolation=cv2.INTER_CUBIC)
            tint = rng.uniform(0.7, 1.0, 3) * np.array([255, 225, 200])
            canvas[top:top + int(size), int(x):int(x) + int(size)] = face[..., None] * tint
            x += size * rng.uniform(1.1, 1.6)
    poster_h = scene.poster_px * h / 720
    for i in range(scene.posters):
        photo_name = ("astronaut", "grace_hopper")[i % 2]
        x0, y0, x1, y1 = POSTER_CROPS[photo_name]
        photo = dv._load_photo(photo_name)[y0:y1, x0:x1].astype(np.float32)
        ph = int(poster_h)
        pw = int(ph * (x1 - x0) / (y1 - y0))
        cx = int((i + 0.5) / scene.posters * w + rng.uniform(-0.05, 0.05) * w)
        top = int(0.04 * h)
        border = max(3, ph // 15)
        canvas[top - border:top + ph + border, cx - pw // 2 - border:cx + pw // 2 + border] = (70, 45, 25)
        canvas[top:top + ph, cx - pw // 2:cx - pw // 2 + pw] = cv2.resize(
            photo, (pw, ph), interpolation=cv2.INTER_AREA)
    return canvas


def light_field(scene: StressScene) -> np.ndarray:
    """(H, W, 1) float32 gain field (module docstring)."""
    w, h = scene.width, scene.height
    xs = np.arange(w, dtype=np.float32)[None, :] - scene.spot[0] * w
    ys = np.arange(h, dtype=np.float32)[:, None] - scene.spot[1] * h
    spot = np.exp(-(xs ** 2 + ys ** 2) / (2 * (scene.spot_sigma * w) ** 2))
    return (scene.dim + (1 - scene.dim) * spot)[..., None].astype(np.float32)


ONSET_DECAY_FRAMES = 4.0


def onset_motion(rng: np.random.Generator, n_frames: int, fps: float = dv.FPS) -> np.ndarray:
    """(F,) motion coordinate from a random onset train (Poisson, ``ONSETS_PER_S``, one onset at
    frame 0 so that every performer moves from the start): each onset of strength U(0.5, 1)
    decays as ``exp(-t / ONSET_DECAY_FRAMES)`` like an onset envelope."""
    onsets = np.where(rng.random(n_frames) < ONSETS_PER_S / fps, rng.uniform(0.5, 1.0, n_frames), 0.0)
    onsets[0] = 1.0
    kernel = np.exp(-np.arange(int(6 * ONSET_DECAY_FRAMES)) / ONSET_DECAY_FRAMES)
    envelope = np.convolve(onsets, kernel)[:n_frames]
    return dv.stroke_motion(dv.motion_driver(envelope))


class PlacedPerformer:
    """A performer's sprite scaled into a stress frame (anchor = sprite bottom centre)."""

    def __init__(self, scene: StressScene, spec: StressPerformer, n_frames: int):
        self.spec = spec
        sprite = dv.make_sprite(APPEARANCES[spec.appearance])
        # the full-body photograph has no bowing-arm region: its violinist does not bow
        amplitudes = {k: v for k, v in dv.MOTION[spec.instrument].items()
                      if not (k == "arm" and sprite.arm is None)}
        self.renderer = dv.PerformerRenderer(spec.instrument, 0.0, amplitudes=amplitudes,
                                             sprite=sprite)
        sw, sh = sprite.size
        self.scale = spec.height_fraction * scene.height / sh
        self.anchor = np.array([spec.x_fraction * scene.width, spec.bottom_fraction * scene.height])
        self.frame_wh = (scene.width, scene.height)
        motion = onset_motion(scene_rng(scene, f"motion-{spec.instrument}"), n_frames)
        self.states = dv.performer_states(spec.instrument, motion, amplitudes=amplitudes)

    def affine(self, state: dv.PerformerState) -> np.ndarray:
        """(2, 3) sprite pixels -> frame pixels: rotate about the pivot, sway, scale, place."""
        theta = np.deg2rad(state.rotation_deg)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) * self.scale
        pivot = self.renderer.pivot
        shift = self.anchor + self.scale * np.array(state.sway) - rot @ pivot
        return np.hstack([rot, shift[:, None]])

    def ground_truth(self, f: int) -> tuple[np.ndarray, np.ndarray]:
        state = self.states[f]
        m = self.affine(state)
        w, h = self.renderer.sprite.size
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64) @ m[:, :2].T + m[:, 2]
        box = np.array([corners[:, 0].min(), corners[:, 1].min(), corners[:, 0].max(),
                        corners[:, 1].max()])
        box = np.clip(box, 0, [*self.frame_wh, *self.frame_wh])
        return box, m[:, :2] @ self.renderer.face_point(state) + m[:, 2]

    def draw(self, canvas: np.ndarray, f: int) -> None:
        """Alpha-composite frame ``f`` of the performer into the float32 canvas (in place)."""
        import cv2

        state = self.states[f]
        rgb, alpha = self.renderer.warped_sprite(state)
        box, _ = self.ground_truth(f)
        x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
        x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        if x1 <= x0 or y1 <= y0:
            return
        # area-average down to the target scale first (no aliasing), then the small rotation
        sw, sh = self.renderer.sprite.size
        small = (max(1, round(sw * self.scale)), max(1, round(sh * self.scale)))
        rgb = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, small, interpolation=cv2.INTER_AREA)
        m = self.affine(state)
        m[:, :2] *= np.array([[sw / small[0], sh / small[1]]])   # exact x / y resize factors
        m[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        patch = cv2.warpAffine(rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        weight = cv2.warpAffine(alpha, m, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        region = canvas[y0:y1, x0:x1]
        region += weight * (patch - region)
        if self.spec.instrument_cover > 0:
            bx0, by0, bx1, by1 = box
            cy = by1 - 0.5 * self.spec.instrument_cover * (by1 - by0)
            axes = (int(0.38 * (bx1 - bx0)), int(0.5 * self.spec.instrument_cover * (by1 - by0)))
            cv2.ellipse(canvas, (int((bx0 + bx1) / 2), int(cy)), axes, 0, 0, 360,
                        (92, 52, 28), thickness=-1)


def render_scene(scene: StressScene, song_dir: Path, n_frames: int) -> dict:
    """Write the scene's ``video.mov`` and return its ground truth (JSON-ready dict)."""
    from core.video import VideoWriter

    background = render_background(scene)
    gain = light_field(scene)
    performers = [PlacedPerformer(scene, spec, n_frames) for spec in scene.performers]
    noise_rng = scene_rng(scene, "noise")
    boxes = np.zeros((len(performers), n_frames, 4))
    faces = np.zeros((len(performers), n_frames, 2))
    path = song_dir / VIDEO_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with VideoWriter(tmp, dv.FPS, scene.width, scene.height, container_format="mov") as writer:
            for f in progress(range(n_frames), desc=f"stress {scene.name}", unit="frame"):
                canvas = background.copy()
                for p, performer in enumerate(performers):
                    performer.draw(canvas, f)
                    boxes[p, f], faces[p, f] = performer.ground_truth(f)
                canvas *= gain
                canvas += noise_rng.normal(0, scene.noise, canvas.shape).astype(np.float32)
                writer.write(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    return {"version": STRESS_VERSION, "scene": asdict(scene), "fps": dv.FPS, "n_frames": n_frames,
            "width": scene.width, "height": scene.height,
            "layout": [spec.instrument for spec in scene.performers],
            "performers": {spec.instrument: {
                "position": p, "appearance": spec.appearance,
                "face_size": float(performer.renderer.sprite.face_size * performer.scale),
                "boxes": np.round(boxes[p], 3), "face_centre": np.round(faces[p], 3)}
                for p, (spec, performer) in enumerate(zip(scene.performers, performers))}}


def generate_stress(out_dir, seconds: float = STRESS_SECONDS, names: tuple[str, ...] | None = None,
                    force: bool = False) -> Path:
    """Write the stress scenes (all, or ``names``) as songs of a dataset in ``out_dir``.

    A scene whose ground truth was written with the same version and length is kept unless
    ``force``. ``dataset_metadata.json`` lists every scene written into ``out_dir`` so far.
    """
    out_dir = Path(out_dir)
    scenes = [SCENES_BY_NAME[n] for n in names] if names else list(STRESS_SCENES)
    n_frames = max(1, int(round(seconds * dv.FPS)))
    meta_path = out_dir / "dataset_metadata.json"
    metadata = load_json(meta_path) if meta_path.exists() else {}
    for scene in scenes:
        song_dir = out_dir / STRESS_ARTIST / scene.name
        truth_path = song_dir / GROUND_TRUTH_NAME
        if not force and truth_path.exists() and scene.name in metadata.get(STRESS_ARTIST, {}):
            old = load_json(truth_path)
            if old.get("version") == STRESS_VERSION and old.get("n_frames") == n_frames:
                continue
        truth = render_scene(scene, song_dir, n_frames)
        save_json(truth_path, truth, indent=None)
        metadata.setdefault(STRESS_ARTIST, {})[scene.name] = {
            "layout": truth["layout"], "moving_camera": False, "fps": float(dv.FPS),
            "duration": duration_for_frames(n_frames, dv.FPS), "correct_body_detection": True}
        save_json(meta_path, metadata, indent=2)
        log.info("wrote stress scene %s (%dx%d, %d frames)", song_dir, scene.width, scene.height,
                 n_frames)
    return out_dir
