"""``frames``: appearance conditioning, Sound-of-Pixels style (Zhao et al., ECCV 2018), as a
condition encoder of the one separation framework (``separation.encoders``).

Published visual network (Sound of Pixels' public code): ResNet-18 without its average pool and
classifier, ``layer4`` made stride 1 with dilation 2 ("resnet18dilated", output stride 16), a 3×3
convolution to ``K`` channels (K = 32), max-pooled over space and over its 3 frames into one
K-vector, then a sigmoid. Here the same network is applied to every ``frame_stride``-th frame of a
4-s chunk of RGB crops around the queried performer (``separation.frame_crops``), max-pooled over
space only, so the vector stays a time sequence ``(B, T_c, K)`` (``T_c = 100 / frame_stride``) that
the VoViT audio path resamples to its STFT frames like any condition (no sigmoid by default:
``activation`` below).

Input: ``(B, 100, 3, S, S)`` uint8 (or float) RGB, 0–255, ``S = crop_size``. The encoder scales it
to 0–1 and normalises it with ImageNet's channel mean and deviation (what torchvision weights
expect). The ResNet-18 is written here with torchvision's parameter names (DESIGN §7: torchvision
does not install beside this torch), so a local torchvision ``resnet18`` state dict loads into
``backbone`` (``load_torchvision_resnet18``; its ``fc.*`` classifier is not used). Random
initialisation by default (torchvision's scheme: Kaiming-normal convolutions, unit BatchNorm);
nothing is downloaded.

Configs (``FramesConfig``; recorded in the model config's ``encoder``, so in every checkpoint):

``crop_size``    S, pixels of the square crop (``small`` 64, ``vovit`` 112; published 224). 64 px
                 keeps CPU training feasible: 25 crops per chunk through a width-16 ResNet-18 cost
                 ~0.2 GFLOP per chunk against ~46 GFLOP at 224 px and full width.
``frame_stride`` encode every n-th 25-fps frame (``small`` 4 → 25 steps per chunk, 6.25 fps;
                 ``vovit`` 2). The published network saw 3 frames ~3 s apart.
``width``        ResNet-18 base width (channels of ``layer1``; ``layer2..4`` double it). 64 is
                 torchvision's and the only width a torchvision state dict loads into; ``small``
                 uses 16 (~0.7 M parameters instead of 11.2 M).
``channels``     K, the visual vector per frame (published 32).
``dilated``      layer4 at stride 1 with dilation 2, as published.
``activation``   ``none`` (default) or ``sigmoid`` (published). Sound of Pixels bounds its vector
                 with a sigmoid because it weights the audio U-Net's K component maps; here the
                 vector enters VoViT's linear fusion. Measured on the known-answer test
                 (tests/separation/test_sep_frames.py, tiny model): with the sigmoid the model
                 still ignored the crops after 160 steps (the same output for either performer's
                 crop), without it it followed the crop from step ~80. A divergence, named in
                 the config.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from .encoders import config_from_options

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_WIDTH = 64
ACTIVATIONS = ("sigmoid", "none")


@dataclass(frozen=True)
class FramesConfig:
    crop_size: int = 64
    frame_stride: int = 4
    width: int = 16
    channels: int = 32
    dilated: bool = True
    activation: str = "none"

    def __post_init__(self):
        if self.crop_size < 32:
            raise ValueError(f"frames crop_size {self.crop_size} px: at least 32 (the ResNet "
                             f"reduces it 16-fold)")
        for name in ("frame_stride", "width", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"frames {name} must be ≥ 1, got {getattr(self, name)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"frames activation must be one of {ACTIVATIONS}, "
                             f"got {self.activation!r}")

    @classmethod
    def for_preset(cls, preset: str) -> "FramesConfig":
        """``small``: 64 px, every 4th frame, width 16; ``vovit``: 112 px, every 2nd frame,
        torchvision's width 64 (module docstring)."""
        if preset == "small":
            return cls(crop_size=64, frame_stride=4, width=16)
        return cls(crop_size=112, frame_stride=2, width=TORCHVISION_WIDTH)

    @classmethod
    def from_options(cls, options: dict) -> "FramesConfig":
        return config_from_options(cls, options, "frames encoder")

    def to_options(self) -> dict:
        return asdict(self)


# --- ResNet-18 with torchvision's parameter names ----------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision's ``BasicBlock``: 3×3 conv-BN-ReLU, 3×3 conv-BN, + shortcut, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1,
                 first_dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + shortcut)


class ResNet18(nn.Module):
    """ResNet-18 feature extractor ``(N, 3, H, W)`` → ``(N, 8·width, H/16, W/16)`` (dilated) or
    ``H/32`` (not); no average pool, no classifier. ``dilated`` follows Sound of Pixels'
    ``_nostride_dilate`` with dilate 2 on layer4: its strided convolutions become stride 1 (the
    first 3×3 keeps dilation 1), its other 3×3 convolutions get dilation 2."""

    def __init__(self, width: int = TORCHVISION_WIDTH, dilated: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [width, 2 * width, 4 * width, 8 * width]
        previous = width
        for i, w in enumerate(widths, start=1):
            if i == 4 and dilated:
                blocks = [BasicBlock(previous, w, 1, dilation=2, first_dilation=1),
                          BasicBlock(w, w, 1, dilation=2, first_dilation=2)]
            else:
                stride = 1 if i == 1 else 2
                blocks = [BasicBlock(previous, w, stride), BasicBlock(w, w)]
            self.add_module(f"layer{i}", nn.Sequential(*blocks))
            previous = w
        self.out_channels = previous
        for module in self.modules():          # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class FrameEncoder(nn.Module):
    """``(B, n_frames, 3, S, S)`` RGB 0–255 → ``(B, T_c, K)`` (module docstring)."""

    def __init__(self, config: FramesConfig | None = None, n_frames: int = 100):
        super().__init__()
        self.config = config or FramesConfig()
        cfg = self.config
        self.backbone = ResNet18(cfg.width, cfg.dilated)
        self.fc = nn.Conv2d(self.backbone.out_channels, cfg.channels, 3, padding=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0,
                             persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0,
                             persistent=False)
        self.out_channels = cfg.channels
        self.input_shape = (n_frames, 3, cfg.crop_size, cfg.crop_size)

    def frame_maps(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, n_frames, 3, S, S)`` → the K feature maps of the encoded frames
        ``(B, T_c, K, h, w)`` (before the spatial max; for saliency and figures)."""
        picked = frames[:, ::self.config.frame_stride].float()
        b, t = picked.shape[:2]
        x = (picked.flatten(0, 1) - self.mean) / self.std
        maps = self.fc(self.backbone(x))
        return maps.view(b, t, *maps.shape[1:])

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        vector = self.frame_maps(frames).amax(dim=(3, 4))                 # spatial max → (B, T_c, K)
        return torch.sigmoid(vector) if self.config.activation == "sigmoid" else vector

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self(frames)

    def load_pretrained(self, path: str | Path) -> list[str]:
        """``--visual_weights``: a torchvision resnet18 state dict into the backbone
        (``load_torchvision_resnet18``); returns the unused keys."""
        return load_torchvision_resnet18(self, path)


def load_torchvision_resnet18(encoder: FrameEncoder, path: str | Path) -> list[str]:
    """Load a local torchvision ``resnet18`` state dict (a ``.pth`` of tensors, read with
    ``weights_only`` through ``core.io.load_torch``: a file naming code is refused) into
    ``encoder.backbone``; returns the keys not used (the ``fc.*`` classifier). Every backbone key
    must be present with its shape, else ``ValueError`` naming the first that is not."""
    from core.io import load_torch

    state = load_torch(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = encoder.backbone.state_dict()
    for key, value in own.items():
        if key not in state:
            raise ValueError(f"{path}: no {key!r}: not a torchvision resnet18 state dict")
        if tuple(state[key].shape) != tuple(value.shape):
            raise ValueError(f"{path}: {key} has shape {tuple(state[key].shape)}, the frames "
                             f"encoder (width {encoder.config.width}) needs {tuple(value.shape)}; "
                             f"torchvision weights need width {TORCHVISION_WIDTH}")
    encoder.backbone.load_state_dict({k: state[k] for k in own}, strict=True)
    return sorted(k for k in state if k not in own)

