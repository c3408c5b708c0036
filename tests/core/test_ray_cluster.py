"""A two-node Ray cluster on this machine (``ray start --head`` + ``ray start --address``), one CPU
each, joined by the real CLIs through ``--ray-address``.

The second node runs in its own mount namespace where one folder (``hidden``) is an empty tmpfs: a
dataset stored there is what a node without the shared filesystem would (not) see.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import copy_tree, run_cli
from ray_cluster import RayCluster, can_hide_folders

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not can_hide_folders(),
                                 reason="needs mount namespaces (unshare -m) for the hidden folder")]

ARTIST = "Demo Artist A"            # two static-camera songs: one per node
FEATURES = ("feature_extraction.main", "--extract", "both", "--pca", "3", "--correlate",
            "-a", ARTIST)


@pytest.fixture(scope="module")
def hidden(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hidden_from_node_2")


@pytest.fixture(scope="module")
def cluster(hidden):
    with RayCluster(node_cpus=[1, 1], hide=hidden) as running:
        yield running


def node_of_each_song(stderr: str, stage_line: str = "done") -> dict[str, str]:
    return dict(re.findall(rf"({ARTIST}/[^:]+): {stage_line} \[on ([\d.]+/[0-9a-f]{{8}}), ", stderr))


def song_outputs(root: Path, pattern: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / ARTIST).rglob(pattern))
            if not p.name.startswith(".")}


def test_pose_and_features_on_two_nodes_equal_the_serial_run(cluster, demo_dataset,
                                                             posed_demo_dataset, tmp_path):
    root = copy_tree(demo_dataset, tmp_path / "demo_data")
    ray_args = ("--executor", "ray", "--ray-address", cluster.address)
    pose = run_cli("pose_estimation.main", "--pose", "--post", "-a", ARTIST,
                   "--dataset_path", str(root), *ray_args)
    assert pose.returncode == 0, pose.stderr[-3000:]
    assert "pose: 2 song(s) as Ray tasks on 2 node(s), 1 CPU(s) each" in pose.stderr
    pose_nodes = node_of_each_song(pose.stderr.split("post: ")[0])
    assert len(pose_nodes) == 2 and len(set(pose_nodes.values())) == 2, pose_nodes
    # keypoints (and the pose pickle) byte-identical to the serial run of the session fixture
    for pattern in ("*.npy", "*.pkl", "pose_info.json"):
        expected = song_outputs(posed_demo_dataset, pattern)
        assert expected and song_outputs(root, pattern) == expected, pattern

    serial_root = copy_tree(posed_demo_dataset, tmp_path / "serial" / "demo_data")
    run_cli(*FEATURES, "--dataset_path", str(serial_root), check=True)
    features = run_cli(*FEATURES, "--dataset_path", str(root), *ray_args)
    assert features.returncode == 0, features.stderr[-3000:]
    assert len(set(node_of_each_song(features.stderr).values())) == 2
    expected = song_outputs(serial_root, "*.json")
    assert len(expected) > 10 and song_outputs(root, "*.json") == expected
    aggregated = Path("results") / "correlation" / "aggregated_strong_windows.json"
    assert (root / aggregated).read_bytes() == (serial_root / aggregated).read_bytes()


def test_a_node_that_cannot_see_the_dataset_stops_the_run_by_name(cluster, demo_dataset, hidden):
    root = copy_tree(demo_dataset, hidden / "demo_data")     # the head sees it, node 2 does not
    result = run_cli("feature_extraction.main", "--extract", "audio", "--dataset_path", str(root),
                     "--executor", "ray", "--ray-address", cluster.address)
    assert result.returncode == 2, result.stderr[-3000:]
    named = re.findall(r"DatasetNotVisibleError: ([\d.]+/[0-9a-f]{8}) cannot see "
                       rf"DATASET_PATH={re.escape(str(root))}[;:]", result.stderr)
    assert len(named) == 1, result.stderr[-3000:]
    assert not list(root.rglob("audio_features.json"))       # no song ran
