"""Checkpoints: atomic round trip with identical outputs, clear errors on mismatch."""
from __future__ import annotations

import pytest
import torch

from separation.checkpoint import CheckpointMismatchError, load_checkpoint, save_checkpoint
from separation.vovit import CHUNK_SAMPLES, VoViT

from sep_synthetic import tiny_config


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(1)
    model = VoViT(tiny_config("face_body", cross_modal=True))
    # Move BN running statistics away from their defaults so they are part of what is checked.
    model.train()
    mixture = 0.1 * torch.randn(2, CHUNK_SAMPLES)
    visual = torch.randn(2, 2, 100, 123)
    model(mixture, visual)
    model.eval()
    path = save_checkpoint(tmp_path / "m.pt", model, instrument="vocal", train_songs=["a/b"])
    assert not list(tmp_path.glob(".*part*"))              # no temporary file left behind
    loaded, meta = load_checkpoint(path, expect_visual="face_body", expect_preset="small")
    with torch.no_grad():
        a, b = model(mixture, visual), loaded(mixture, visual)
    assert torch.equal(a, b)
    assert torch.equal(model.last_attention, loaded.last_attention)
    assert meta["instrument"] == "vocal" and meta["train_songs"] == ["a/b"]
    assert meta["config"] == model.config


def test_mismatch_names_both_sides(tmp_path):
    path = save_checkpoint(tmp_path / "body.pt", VoViT(tiny_config("body")))
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, expect_visual="face")
    message = str(err.value)
    assert "visual=body" in message and "visual=face was asked" in message and "body.pt" in message
    with pytest.raises(CheckpointMismatchError, match=r"preset=small.*preset=vovit was asked"):
        load_checkpoint(path, expect_preset="vovit")


def test_unreadable_and_foreign_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(ValueError, match="foreign.pt is not a separation.vovit/1 file"):
        load_checkpoint(foreign)


def test_a_checkpoint_of_an_older_architecture_is_refused_by_version(tmp_path):
    """Version 1 (no ``architecture_version`` key) had the same keys and shapes but another function:
    loading it must fail with both versions named, not give silently wrong output."""
    from separation.checkpoint import ArchitectureVersionError, read_checkpoint
    from separation.vovit import ARCHITECTURE_VERSION

    path = save_checkpoint(tmp_path / "new.pt", VoViT(tiny_config("face")), instrument="vocal")
    assert read_checkpoint(path)["architecture_version"] == ARCHITECTURE_VERSION
    old = read_checkpoint(path)
    del old["architecture_version"]
    torch.save(old, tmp_path / "old.pt")
    with pytest.raises(ArchitectureVersionError,
                       match=rf"old.pt was trained on separation architecture version 1, this code "
                             rf"computes version {ARCHITECTURE_VERSION}"):
        load_checkpoint(tmp_path / "old.pt")
    # Its extras (song split) stay readable without building the model.
    assert read_checkpoint(tmp_path / "old.pt")["extra"]["instrument"] == "vocal"
