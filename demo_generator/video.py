"""Synthetic concert-stage video for the demo dataset: three real photographs of people, animated.

Frames are ``(FRAME_HEIGHT, FRAME_WIDTH, 3)`` uint8 RGB. Coordinates are pixels, x right, y down.

Performers
----------
Each performer is a *sprite*: a crop of a real photograph that ships offline (``skimage.data``
astronaut -> singer, matplotlib's ``grace_hopper.jpg`` -> violinist, ``skimage.data.camera()`` ->
mridangam player; grayscale, given 3 channels and a sepia tone), resized to ~380-400 x
470-600 px, with a feathered alpha edge
``alpha = clip(d / FEATHER_PX, 0, 1)`` (``d`` = distance to the crop border) so it blends into the
stage. Face centres in sprite coordinates were measured once with MediaPipe FaceDetection on the
source photographs and are stored in ``SPRITE_SOURCES``.

Animation (per frame f)
-----------------------
``driver(f)`` is the performer's own stem's onset envelope at frame rate (``motion_driver``) and
``m(f)`` in [-1, 1] the performer's *motion coordinate* (``stroke_motion``): one movement stroke
per driver peak, alternating in direction, with speed ``|dm/dt| = k * fps * driver``. Every
displacement below is proportional to ``m``, so every speed is proportional to the own stem's onset
envelope (the quantity the correlation analysis measures); the performers' drivers come from
different stems with independent phrasing, so their motions are distinct.

1. Local warps inside the sprite (backward mapping with ``cv2.remap``):
   ``src(x) = x - sum_r d_r(f) * w_r(x)``, ``w_r(x) = exp(-|(x - c_r) / s_r|^2 / 2)`` (an elliptical
   Gaussian bump around region ``r``), which moves the region's centre by ``d_r(f)`` and fades to
   nothing away from it. Regions: every performer's head (nod, ``d = MOTION.head * m``), the
   singer's jaw (``d = (0, MOTION.jaw * rms)``: the jaw drops with the vocal stem's loudness) and
   the violinist's bowing (right) arm (``d = (MOTION.arm * m, 0)``). The head also tilts (roll)
   by ``phi = MOTION.head_roll_deg * m`` about the neck ``n`` (0.6 face sizes below the face
   centre): ``src(x) = x + w_head(x) (R(-phi) - I)(x - n)``, with a flat-topped head weight
   (``_bump(power=2)``) so that the face turns as one piece.
2. Whole-body sway: rotation by ``theta(f) = MOTION.rot_deg * m(f)`` about the bottom centre of the
   sprite, then translation ``(MOTION.sway_x * m(f), -MOTION.sway_y * m(f))``. With ``R`` the
   rotation, ``p`` the pivot, ``o`` the sprite's stage position and ``c(f)`` the camera offset, a
   sprite point ``x`` lands at ``R (x - p) + p + o + sway(f) - (c(f), 0)`` in the frame.
3. Ground truth: the person box is the axis-aligned bounding box of the 4 transformed sprite corners,
   clipped to the frame; the face centre is the face centre rolled about the neck, head-shifted,
   then transformed like the sprite.

Stage
-----
A back wall (warm vertical gradient, a dark wainscot band) and a red patterned carpet from
``FLOOR_Y`` down; a small framed *abstract* picture (concentric kolam-like diamonds, no face) hangs
high on the wall so that post-processing's "drop clusters too high in the frame" rule has something
real to ignore without ever producing a face detection. A moving camera pans horizontally:
``c(f) = PAN_MARGIN + PAN_AMPLITUDE * sin(2 pi f / (fps * PAN_PERIOD_S))`` (rounded to whole
pixels), the frame being a window of a wider stage.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FRAME_WIDTH, FRAME_HEIGHT, FPS = 1280, 720, 30
FLOOR_Y = 455                 # wall/carpet boundary in the frame
SPRITE_BOTTOM_Y = 700         # sprites stand (sit) with their lower edge here
SLOT_CENTRES_X = (215, 640, 1065)   # left-to-right stage positions (frame x of sprite centres)
FEATHER_PX = 14.0
PAN_MARGIN = 70               # extra stage width on each side for the moving camera
PAN_AMPLITUDE = 60.0
PAN_PERIOD_S = 16.0

# Animation amplitudes at |motion coordinate| = 1 (see ``stroke_motion``): pixels / degrees.
# The motion features normalise every frame (centre = mean of the points, mostly the 68 face points;
# scale = the farthest point), which removes the sway translation and most of a head shift; what
# survives is the face turning relative to itself and the body, so the head ROLL carries the signal.
# Whole-body rotation stays small: MediaPipe's body points (shoulders, elbows) answer it with jitter
# of several pixels, measured on the demo, which drowns the onset-driven speed.
MOTION = {
    "vocal": {"sway_x": 5.0, "sway_y": 2.0, "rot_deg": 1.0, "head": (2.0, 4.0),
              "head_roll_deg": 12.0, "jaw": 3.0},
    "violin": {"sway_x": 5.0, "sway_y": 2.0, "rot_deg": 1.0, "head": (2.0, 3.0),
               "head_roll_deg": 10.0, "arm": 16.0},
    "mridangam": {"sway_x": 5.0, "sway_y": 2.0, "rot_deg": 0.5, "head": (2.0, 3.0),
                  "head_roll_deg": 14.0},
}
STROKE_REACH = 1.0            # a typical (90th percentile) stroke moves the coordinate this far


@dataclass(frozen=True)
class SpriteSource:
    """How a performer's sprite is cut from its photograph (source pixels) and scaled."""
    image: str                       # loader name, see _load_photo
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 in the source photo
    scale: float
    face_centre: tuple[float, float]     # in the source photo (MediaPipe FaceDetection, measured)
    face_size: float                     # face box side in the source photo
    jaw: tuple[float, float] | None = None   # chin point in the source photo (grace_hopper,
                                             # camera: MediaPipe face mesh iBUG point 8)
    arm: tuple[float, float] | None = None   # bowing-arm region centre in the source photo
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)   # per-channel gain (sepia for grayscale)
    mirror: bool = False                 # flip left-right after cropping


SPRITE_SOURCES = {
    "vocal": SpriteSource("astronaut", (20, 0, 400, 512), 1.0, (225.6, 119.7), 104.0,
                          jaw=(225.0, 178.0)),
    "violin": SpriteSource("grace_hopper", (0, 0, 512, 600), 0.78, (266.1, 228.6), 200.0,
                           jaw=(270.5, 336.1), arm=(90.0, 520.0)),
    # The cameraman's profile face is small in his photo: a tight crop scaled 1.7x and a sepia tone
    # bring MediaPipe FaceDetection (full range) from ~0-70 % to 100 % of frames at every slot.
    "mridangam": SpriteSource("camera", (110, 80, 345, 430), 1.7, (237.6, 160.7), 76.0,
                              jaw=(233.2, 196.9), tint=(1.0, 0.82, 0.66)),
}


@dataclass
class Sprite:
    """An RGBA performer image and its landmarks in sprite pixels."""
    rgb: np.ndarray          # (h, w, 3) float32 0..255
    alpha: np.ndarray        # (h, w) float32 0..1
    face_centre: np.ndarray  # (2,) x, y
    face_size: float
    jaw: np.ndarray | None
    arm: np.ndarray | None
    source: str

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.alpha.shape
        return w, h


def _load_photo(name: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a photograph that ships with scikit-image / matplotlib."""
    if name == "astronaut":
        from skimage.data import astronaut
        return astronaut()
    if name == "camera":
        from skimage.data import camera
        return np.repeat(camera()[:, :, None], 3, axis=2)
    if name == "grace_hopper":
        import matplotlib.cbook as cbook
        import matplotlib.image as mimage
        with cbook.get_sample_data("grace_hopper.jpg") as fh:
            return np.asarray(mimage.imread(fh, format="jpg"))[:, :, :3].astype(np.uint8)
    raise ValueError(f"unknown photo {name!r}")


def feathered_alpha(height: int, width: int, feather: float = FEATHER_PX) -> np.ndarray:
    """(h, w) float32: 0 on the border rising linearly to 1 at ``feather`` px inside."""
    ys = np.minimum(np.arange(height), np.arange(height)[::-1])[:, None]
    xs = np.minimum(np.arange(width), np.arange(width)[::-1])[None, :]
    return np.clip(np.minimum(ys, xs) / feather, 0.0, 1.0).astype(np.float32)


def load_sprite(instrument: str) -> Sprite:
    """The sprite of ``SPRITE_SOURCES[instrument]``."""
    return make_sprite(SPRITE_SOURCES[instrument])


@lru_cache(maxsize=None)
def make_sprite(src: SpriteSource) -> Sprite:
    """Cut, scale and tint ``src``'s photograph into a feathered RGBA sprite."""
    import cv2

    x0, y0, x1, y1 = src.crop
    photo = _load_photo(src.image)[y0:y1, x0:x1]
    if src.mirror:
        photo = photo[:, ::-1]
    w, h = int(round((x1 - x0) * src.scale)), int(round((y1 - y0) * src.scale))
    rgb = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    rgb *= np.array(src.tint, dtype=np.float32)

    def to_sprite(point):
        if point is None:
            return None
        x, y = point[0] - x0, point[1] - y0
        return np.array([(x1 - x0) - x if src.mirror else x, y]) * src.scale

    return Sprite(rgb, feathered_alpha(h, w), to_sprite(src.face_centre), src.face_size * src.scale,
                  to_sprite(src.jaw), to_sprite(src.arm), src.image)


def render_stage(width: int, height: int = FRAME_HEIGHT) -> np.ndarray:
    """(height, width, 3) uint8 empty stage: wall, wainscot, carpet, an abstract wall picture."""
    y = np.arange(height, dtype=np.float32)[:, None]
    x = np.arange(width, dtype=np.float32)[None, :]
    stage = np.zeros((height, width, 3), np.float32)
    wall_shade = 0.75 + 0.25 * (y / FLOOR_Y)                      # lighter towards the floor
    stage[:] = np.array([196, 170, 132], np.float32) * wall_shade[..., None]
    band = (y >= FLOOR_Y - 40) & (y < FLOOR_Y)
    stage[np.broadcast_to(band, (height, width))] = (120, 82, 56)
    carpet = np.broadcast_to(y >= FLOOR_Y, (height, width))
    pattern = 0.9 + 0.1 * np.sign(np.sin(x / 9.0) * np.sin((y - FLOOR_Y) / 9.0))
    red = np.stack([150 * pattern, 32 * pattern, 40 * pattern], axis=-1)
    border = np.broadcast_to((y >= FLOOR_Y) & (y < FLOOR_Y + 14), (height, width))
    stage[carpet] = red[carpet]
    stage[border] = (200, 160, 60)
    # Abstract framed picture high on the wall, between the first two performers.
    cx, cy, half = width // 2 - 215, 75, 48
    frame_box = (slice(cy - half - 6, cy + half + 6), slice(cx - half - 6, cx + half + 6))
    stage[frame_box] = (90, 60, 30)
    yy, xx = np.mgrid[-half:half, -half:half]
    diamond = (np.abs(xx) + np.abs(yy)) // 12 % 2
    picture = np.where(diamond[..., None] == 0, np.array([235, 225, 200]), np.array([40, 110, 140]))
    stage[cy - half:cy + half, cx - half:cx + half] = picture
    return np.clip(stage, 0, 255).astype(np.uint8)


def camera_offsets(n_frames: int, moving: bool, fps: float = FPS) -> np.ndarray:
    """(F,) int: x of the frame window on the wider stage (constant PAN_MARGIN when static)."""
    if not moving:
        return np.full(n_frames, PAN_MARGIN, dtype=np.int64)
    f = np.arange(n_frames)
    return np.round(PAN_MARGIN + PAN_AMPLITUDE * np.sin(2 * np.pi * f / (fps * PAN_PERIOD_S))
                    ).astype(np.int64)


def motion_driver(envelope: np.ndarray, sigma_frames: float = 1.0) -> np.ndarray:
    """(F,) driver in [0, ~1.5] from a frame-rate onset envelope.

    ``driver = gaussian_smooth(clip(env / P95(env), 0, 1.5), sigma)``: the 95th percentile scales a
    typical strong onset to 1, a few stronger ones go up to 1.5, and the 1-frame smoothing keeps
    the motion continuous without delaying it (zero-phase).
    """
    from scipy.ndimage import gaussian_filter1d

    envelope = np.asarray(envelope, dtype=np.float64)
    scale = np.percentile(envelope, 95) if envelope.size else 0.0
    if scale <= 0:
        return np.zeros_like(envelope)
    return gaussian_filter1d(np.clip(envelope / scale, 0.0, 1.5), sigma_frames, mode="nearest")


def driver_strokes(driver: np.ndarray) -> np.ndarray:
    """(S + 1,) frame indices splitting ``driver`` into strokes: 0, each local minimum
    (``d[f] <= d[f-1]`` and ``d[f] < d[f+1]``), and F. Stroke s covers frames ``[b_s, b_{s+1})``."""
    d = np.asarray(driver, dtype=np.float64)
    minima = np.nonzero((d[1:-1] <= d[:-2]) & (d[1:-1] < d[2:]))[0] + 1
    return np.concatenate([[0], minima, [len(d)]]).astype(np.int64)


def stroke_motion(driver: np.ndarray, reach: float = STROKE_REACH) -> np.ndarray:
    """(F,) motion coordinate ``m`` in [-1, 1] whose SPEED follows ``driver`` (dimensionless).

    A performer makes one movement stroke per driver peak (one onset): the driver is cut into
    strokes at its local minima (``driver_strokes``) and

    * ``m_f = m_{f-1} + dir_s * k * (d_{f-1} + d_f) / 2`` (trapezoid, so the central difference
      ``(m_{f+1} - m_{f-1}) / 2`` is centred on frame f), ``m_0 = 0``;
    * each stroke starts heading back towards the rest position: ``dir_s = -sign(m)`` (``+1`` at 0),
      so strokes alternate like nods and the coordinate stays near its range;
    * a stroke that would leave [-1, 1] bounces off the limit (reflection, direction reversed),
      which keeps ``|m_f - m_{f-1}| = k (d_{f-1} + d_f) / 2`` exactly;
    * ``k = reach / P90(stroke areas)`` with area ``A_s = sum of d over the stroke``, so that a
      typical large stroke moves ``reach`` and the motion fills the range whatever the stem's level.

    Hence the speed ``|dm/dt|`` equals ``k * fps * driver`` up to the half-frame trapezoid average:
    the pose stage's speed features (``|d position / dt|``) follow the performer's own onset
    envelope, which is what the published correlation analysis looks for. A position that merely
    followed the envelope (``m = driver``) would give speeds following its derivative instead.
    """
    d = np.clip(np.asarray(driver, dtype=np.float64), 0.0, None)
    n = len(d)
    m = np.zeros(n)
    if n < 2 or not d.any():
        return m
    bounds = driver_strokes(d)
    areas = np.array([d[a:b].sum() for a, b in zip(bounds[:-1], bounds[1:])])
    scale = np.percentile(areas, 90)
    if scale <= 0:
        return m
    k = reach / scale
    starts = set(bounds[:-1].tolist())
    direction, position = 1.0, 0.0
    for f in range(1, n):
        if f in starts:
            direction = -1.0 if position > 0 else 1.0
        position += direction * k * 0.5 * (d[f - 1] + d[f])
        while abs(position) > 1.0:                  # bounce off the limits
            position = math.copysign(2.0, position) - position
            direction = -direction
        m[f] = position
    return m


def _bump(shape: tuple[int, int], centre: np.ndarray, sigma: tuple[float, float],
          power: int = 1) -> np.ndarray:
    """(h, w) float32 weight ``exp(-0.5 q^(2 power))``, ``q = |(x - centre) / sigma|``; ``power`` 2
    gives a flat top (the head turns as one piece) with a steeper edge."""
    h, w = shape
    ys = (np.arange(h, dtype=np.float32)[:, None] - centre[1]) / sigma[1]
    xs = (np.arange(w, dtype=np.float32)[None, :] - centre[0]) / sigma[0]
    return np.exp(-0.5 * (xs ** 2 + ys ** 2) ** power).astype(np.float32)


def _bump_at(points: np.ndarray, centre: np.ndarray, sigma: tuple[float, float], power: int = 1
             ) -> np.ndarray:
    """``_bump``'s weight at arbitrary sprite points ``(N, 2)`` → ``(N,)`` float64."""
    q2 = (((points[:, 0] - centre[0]) / sigma[0]) ** 2 + ((points[:, 1] - centre[1]) / sigma[1]) ** 2)
    return np.exp(-0.5 * q2 ** power)


@dataclass(frozen=True)
class WarpRegion:
    """A local warp's Gaussian bump in sprite pixels (see the module docstring, step 1)."""
    centre: np.ndarray
    sigma: tuple[float, float]
    power: int = 1


@dataclass
class PerformerState:
    """One performer's animation at one frame (all pixels / degrees)."""
    sway: tuple[float, float]
    rotation_deg: float
    local_shifts: list[tuple[str, tuple[float, float]]]   # (region name, (dx, dy))
    head_roll_deg: float = 0.0                             # head tilt about the neck


class PerformerRenderer:
    """Renders one performer into frames at a fixed stage slot.

    ``instrument`` names the motion style (a key of ``MOTION``: which regions move); ``appearance``
    the sprite (a key of ``SPRITE_SOURCES``, default the same name), so that e.g. a singer can wear
    the violinist's photograph; ``amplitudes`` replaces ``MOTION[instrument]``."""

    def __init__(self, instrument: str, slot_x: float, appearance: str | None = None,
                 amplitudes: dict | None = None, sprite: Sprite | None = None):
        self.instrument = instrument
        self.sprite = sprite if sprite is not None else load_sprite(appearance or instrument)
        amp = MOTION[instrument] if amplitudes is None else amplitudes
        w, h = self.sprite.size
        self.origin = np.array([slot_x - w / 2.0, SPRITE_BOTTOM_Y - h])   # stage (frame) coords
        self.pivot = np.array([w / 2.0, float(h)])
        self.warp_regions: dict[str, WarpRegion] = {}
        fs = self.sprite.face_size
        if "head" in amp:
            self.warp_regions["head"] = WarpRegion(self.sprite.face_centre - (0, 0.15 * fs),
                                                   (0.8 * fs, 0.95 * fs), power=2)
            self.neck = self.sprite.face_centre + (0.0, 0.6 * fs)
        if "jaw" in amp and self.sprite.jaw is not None:
            self.warp_regions["jaw"] = WarpRegion(self.sprite.jaw, (0.3 * fs, 0.2 * fs))
        if "arm" in amp and self.sprite.arm is not None:
            self.warp_regions["arm"] = WarpRegion(self.sprite.arm, (60.0, 70.0))
        # (centre, weight image) per region, for the backward map of the whole sprite
        self.regions: dict[str, tuple[np.ndarray, np.ndarray]] = {
            name: (r.centre, _bump((h, w), r.centre, r.sigma, r.power))
            for name, r in self.warp_regions.items()}
        self.grid_x, self.grid_y = np.meshgrid(np.arange(w, dtype=np.float32),
                                               np.arange(h, dtype=np.float32))

    def source_of(self, state: PerformerState, points: np.ndarray) -> np.ndarray:
        """The backward map ``src(x)`` of ``warped_sprite`` at sprite points ``(N, 2)`` (float64,
        the same formula as the remap grids, evaluated exactly at the points)."""
        points = np.asarray(points, dtype=np.float64)
        src = points.copy()
        for name, (dx, dy) in state.local_shifts:
            region = self.warp_regions[name]
            weight = _bump_at(points, region.centre, region.sigma, region.power)
            src -= np.outer(weight, (dx, dy))
        if state.head_roll_deg:
            region = self.warp_regions["head"]
            weight = _bump_at(points, region.centre, region.sigma, region.power)
            phi = np.deg2rad(state.head_roll_deg)
            r = points - self.neck
            c, s = np.cos(-phi) - 1.0, np.sin(-phi)
            src[:, 0] += weight * (c * r[:, 0] - s * r[:, 1])
            src[:, 1] += weight * (s * r[:, 0] + c * r[:, 1])
        return src

    def landmarks_in_frame(self, state: PerformerState, camera_x: float, points: np.ndarray,
                           iterations: int = 30) -> np.ndarray:
        """Where sprite points ``(N, 2)`` (e.g. the photo's landmarks) appear in the frame.

        The local warps are a backward map (a rendered pixel ``y`` shows the sprite at ``src(y)``),
        so a landmark ``p`` lands at the ``y`` with ``src(y) = p``, found by the fixed-point
        iteration ``y <- y + (p - src(y))`` (the warps move points by a few pixels with smooth
        weights: it converges to well under 0.01 px, tested); then the whole-body affine places
        it. NaN points stay NaN. Returns ``(N, 2)`` frame pixels.
        """
        points = np.asarray(points, dtype=np.float64)
        known = np.isfinite(points).all(axis=1)
        out = np.full_like(points, np.nan)
        p = points[known]
        y = p.copy()
        for _ in range(iterations):
            y = y + (p - self.source_of(state, y))
        m = self.affine(state, camera_x)
        out[known] = y @ m[:, :2].T + m[:, 2]
        return out

    def affine(self, state: PerformerState, camera_x: float) -> np.ndarray:
        """(2, 3) sprite -> frame mapping: rotate about the pivot, place, sway, minus camera."""
        theta = np.deg2rad(state.rotation_deg)
        rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        shift = self.pivot + self.origin + np.array(state.sway) - (camera_x - PAN_MARGIN, 0.0)
        return np.hstack([rot, (shift - rot @ self.pivot)[:, None]])

    def warped_sprite(self, state: PerformerState) -> tuple[np.ndarray, np.ndarray]:
        """Sprite RGB and alpha after the local region warps."""
        import cv2

        if not state.local_shifts and not state.head_roll_deg:
            return self.sprite.rgb, self.sprite.alpha
        map_x, map_y = self.grid_x.copy(), self.grid_y.copy()
        for name, (dx, dy) in state.local_shifts:
            weight = self.regions[name][1]
            map_x -= dx * weight
            map_y -= dy * weight
        if state.head_roll_deg:
            # backward map of a rotation by phi about the neck: src = x + w(x) (R(-phi) - I)(x - n)
            weight = self.regions["head"][1]
            phi = np.deg2rad(state.head_roll_deg)
            rx, ry = self.grid_x - self.neck[0], self.grid_y - self.neck[1]
            c, s = np.cos(-phi) - 1.0, np.sin(-phi)
            map_x += weight * (c * rx - s * ry)
            map_y += weight * (s * rx + c * ry)
        rgb = cv2.remap(self.sprite.rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(self.sprite.alpha, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return rgb, alpha

    def ground_truth(self, state: PerformerState, camera_x: float) -> tuple[np.ndarray, np.ndarray]:
        """(box xyxy (4,), face centre (2,)) in frame pixels; the box is clipped to the frame."""
        m = self.affine(state, camera_x)
        w, h = self.sprite.size
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], dtype=np.float64)
        placed = corners @ m[:, :2].T + m[:, 2]
        box = np.array([placed[:, 0].min(), placed[:, 1].min(), placed[:, 0].max(), placed[:, 1].max()])
        box = np.clip(box, 0, [FRAME_WIDTH, FRAME_HEIGHT, FRAME_WIDTH, FRAME_HEIGHT])
        return box, m[:, :2] @ self.face_point(state) + m[:, 2]

    def face_point(self, state: PerformerState) -> np.ndarray:
        """(2,) the face centre in sprite pixels after the head roll and head shift."""
        face = self.sprite.face_centre.astype(np.float64)
        if state.head_roll_deg:
            phi = np.deg2rad(state.head_roll_deg)
            roll = np.array([[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]])
            face = self.neck + roll @ (face - self.neck)
        for name, shift in state.local_shifts:
            if name == "head":
                face = face + np.array(shift)
        return face

    def draw(self, frame: np.ndarray, state: PerformerState, camera_x: float) -> None:
        """Alpha-composite the animated performer into ``frame`` (in place)."""
        import cv2

        rgb, alpha = self.warped_sprite(state)
        box, _ = self.ground_truth(state, camera_x)
        x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
        x1, y1 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        if x1 <= x0 or y1 <= y0:
            return
        m = self.affine(state, camera_x)
        m[:, 2] -= (x0, y0)
        size = (x1 - x0, y1 - y0)
        patch = cv2.warpAffine(rgb, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        weight = cv2.warpAffine(alpha, m, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)[..., None]
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (region + weight * (patch - region) + 0.5).astype(np.uint8)


def performer_states(instrument: str, motion: np.ndarray, rms: np.ndarray | None = None,
                     amplitudes: dict | None = None) -> list[PerformerState]:
    """Per-frame animation of one performer.

    ``motion``: (F,) motion coordinate ``m`` in [-1, 1] from ``stroke_motion`` of the performer's
    own driver; ``rms``: (F,) loudness of the own stem, about 0..1.5 (the singer's jaw). With
    ``a = MOTION[instrument]``: sway ``(a.sway_x * m, -a.sway_y * m)`` px, rotation
    ``a.rot_deg * m`` degrees, head shift ``a.head * m`` px and roll ``a.head_roll_deg * m``
    degrees, bowing-arm shift ``(a.arm * m, 0)`` px, jaw drop ``(0, a.jaw * rms)`` px.
    ``amplitudes`` replaces ``MOTION[instrument]`` (the benchmark scenes' singers open the jaw
    wider).
    """
    amp = MOTION[instrument] if amplitudes is None else amplitudes
    states = []
    for f, m in enumerate(np.asarray(motion, dtype=np.float64)):
        m = float(m)
        shifts = []
        if "head" in amp:
            shifts.append(("head", (amp["head"][0] * m, amp["head"][1] * m)))
        if "jaw" in amp and rms is not None:
            shifts.append(("jaw", (0.0, amp["jaw"] * float(rms[f]))))
        if "arm" in amp:
            shifts.append(("arm", (amp["arm"] * m, 0.0)))
        states.append(PerformerState((amp["sway_x"] * m, -amp["sway_y"] * m), amp["rot_deg"] * m,
                                     shifts, amp.get("head_roll_deg", 0.0) * m))
    return states
