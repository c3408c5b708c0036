"""``points3d``: geometry conditioning from the performer's metric 3D points, as a condition
encoder of the one separation framework (``separation.encoders``).

Published system (``../shared/reference/seeds/002``): a sparse 3D ResNet-18 (MinkowskiEngine,
0.02 m voxels, pretrained on ModelNet40) over one RGB-D point cloud of the performer, global
max-pooled, fused with a U-Net audio network. Here there is no depth camera: the points are the
performer's 33 metric 3D landmarks per video frame (MediaPipe's ``pose_world_landmarks``, or the
benchmark scenes' synthetic depth; ``core.world_points``), and the network is PointNet-style (Qi et
al., CVPR 2017): a shared per-point MLP and a max-pool over the points of each frame, followed by a
temporal convolution over the frames, so the condition stays a time sequence ``(B, T, C)`` the
VoViT audio path resamples to its STFT frames like any condition. An adaptation, not the published
network: sparse landmarks instead of dense scans, PointNet instead of a sparse 3D ResNet (no
sparse-convolution library is needed for 33 points a frame), no ModelNet40 pretraining.

Input (one example, ``separation.points3d_input``): ``(T, N, 4)`` float32, ``T`` = 100 video frames
(25 fps, one 4-s chunk), ``N = n_points`` (33), per point ``x, y, z`` normalised per performer
(centred per frame, divided by the performer's scale) and ``present`` (1, or 0 for a missing point,
whose coordinates are 0).

Network (``PointEncoder``):

1. shared MLP over every point: ``Linear(3 → c_1)``, ReLU, ..., ``Linear(c_{k-1} → c_k)``, ReLU
   (``point_channels`` = ``(c_1, ..., c_k)``); with ``point_identity`` a learned embedding of the
   point's index (which landmark it is) is added after the first layer. PointNet's points are
   unordered; landmarks have names, and the identity lets the network tell a wrist from a knee
   (an option, recorded in the config; off = PointNet's permutation invariance);
2. max over the present points of the frame (absent points excluded; a frame without points gives
   zeros): ``(B, T, c_k)``, what PointNet's global feature is per frame;
3. ``temporal_layers`` 1-D convolutions over the frames (kernel ``temporal_kernel``, ReLU), then a
   linear layer to ``out_channels``: ``(B, T, C)``.

``last_point_features`` keeps the latest ``(B, T, N, c_k)`` per-point features (before the max) and
``last_argmax`` ``(B, T, c_k)`` which point won each channel, for figures.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .encoders import config_from_options

N_COORDINATES = 4          # x, y, z, present


@dataclass(frozen=True)
class Points3DConfig:
    n_points: int = 33
    point_channels: tuple[int, ...] = (32, 64)
    point_identity: bool = True
    temporal_kernel: int = 5
    temporal_layers: int = 2
    out_channels: int = 64

    def __post_init__(self):
        object.__setattr__(self, "point_channels", tuple(int(c) for c in self.point_channels))
        if not self.point_channels or min(self.point_channels) < 1:
            raise ValueError(f"points3d point_channels must be positive widths, got "
                             f"{self.point_channels}")
        for name in ("n_points", "out_channels", "temporal_kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"points3d {name} must be ≥ 1, got {getattr(self, name)}")
        if self.temporal_kernel % 2 == 0:
            raise ValueError(f"points3d temporal_kernel must be odd (same length), got "
                             f"{self.temporal_kernel}")
        if self.temporal_layers < 0:
            raise ValueError(f"points3d temporal_layers must be ≥ 0, got {self.temporal_layers}")

    @classmethod
    def for_preset(cls, preset: str) -> "Points3DConfig":
        """``small``: MLP 32-64, 64 out; ``vovit``: PointNet's 64-128-256 MLP widths, 256 out."""
        if preset == "small":
            return cls()
        return cls(point_channels=(64, 128, 256), out_channels=256)

    @classmethod
    def from_options(cls, options: dict) -> "Points3DConfig":
        return config_from_options(cls, options, "points3d encoder")

    def to_options(self) -> dict:
        options = asdict(self)
        options["point_channels"] = list(self.point_channels)
        return options


class PointEncoder(nn.Module):
    """``forward(points (B, T, N, 4)) -> (B, T, out_channels)`` (module docstring)."""

    def __init__(self, config: Points3DConfig | None = None, n_frames: int = 100):
        super().__init__()
        self.config = cfg = config or Points3DConfig()
        self.input_shape = (n_frames, cfg.n_points, N_COORDINATES)
        self.out_channels = cfg.out_channels
        widths = (3, *cfg.point_channels)
        self.point_mlp = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.identity = (nn.Embedding(cfg.n_points, cfg.point_channels[0])
                         if cfg.point_identity else None)
        if self.identity is not None:
            nn.init.normal_(self.identity.weight, std=0.1)
        width = cfg.point_channels[-1]
        self.temporal = nn.ModuleList(
            nn.Conv1d(width, width, cfg.temporal_kernel, padding=cfg.temporal_kernel // 2)
            for _ in range(cfg.temporal_layers))
        self.out = nn.Linear(width, cfg.out_channels)
        self.last_point_features: torch.Tensor | None = None
        self.last_argmax: torch.Tensor | None = None

    def point_features(self, points: torch.Tensor) -> torch.Tensor:
        """``(B, T, N, 4)`` → per-point features ``(B, T, N, c_k)`` (step 1)."""
        x = points[..., :3].float()
        for i, layer in enumerate(self.point_mlp):
            x = layer(x)
            if i == 0 and self.identity is not None:
                x = x + self.identity.weight
            x = torch.relu(x)
        return x

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        features = self.point_features(points)                              # (B, T, N, c)
        present = points[..., 3:4] > 0.5                                    # (B, T, N, 1)
        masked = features.masked_fill(~present, float("-inf"))
        pooled, argmax = masked.max(dim=2)                                  # (B, T, c)
        pooled = torch.where(present.any(dim=2), pooled, torch.zeros_like(pooled))
        self.last_point_features, self.last_argmax = features.detach(), argmax.detach()
        x = pooled.transpose(1, 2)                                          # (B, c, T)
        for conv in self.temporal:
            x = torch.relu(conv(x))
        return self.out(x.transpose(1, 2))                                  # (B, T, C)

    encode = forward
