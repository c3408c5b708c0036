"""README's Ray benchmark and capacity figures are the ones in the committed benchmark JSON."""
import json

from conftest import load_script
from core.settings import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks" / "ray_executor_throughput.py"


def load_benchmark():
    return load_script(BENCH)


def test_readme_ray_section_is_rendered_from_the_committed_json():
    bench = load_benchmark()
    result = json.loads(bench.RESULT_JSON.read_text())
    assert result["capacity"] == bench.capacity(result)
    readme = (REPO_ROOT / "README.md").read_text()
    assert bench.readme_section(result) in readme
    # the multi-node example, as it was run on this machine (``--worked-example``), when the
    # JSON has it; else the README has no such section
    example = result.get("worked_example")
    if example is None:
        assert bench.WORKED_START not in readme
        return
    assert bench.worked_section(example) in readme
    assert example["outputs_identical"]
    assert all(stage["exit_code"] == 0 for stage in example["stages"].values())
    # each stage's songs were spread over both nodes
    assert all(len(nodes) == 2 for stage in example["stages"].values()
               for nodes in stage["songs_by_node"].values())


def test_capacity_scales_measured_rates_to_saraga_av():
    bench = load_benchmark()
    # a 2-core node: 900 frames in 200 CPU seconds = 9 frames/s on both cores; features 30 CPU
    # seconds for 30 s of song = 0.5 s of node time per second of song
    result = {"cpu_cores": 2,
              "stages": {"pose": {"frames": 900, "ray": {"cpu_s": 200.0}},
                         "features": {"song_seconds": 30.0, "ray": {"cpu_s": 30.0}}}}
    cap = bench.capacity(result)
    assert cap["pose_frames_per_s_per_node"] == 9.0 and cap["features_s_per_song_s"] == 0.5
    assert cap["node_hours"]["pose"] == 60 * 3600 * 30 / 9.0 / 3600          # 200 h
    assert cap["node_hours"]["features"] == 60 * 0.5                          # 30 h
    assert cap["days_by_nodes"]["4"] == (200 + 30) / 4 / 24


def test_capacity_uses_the_run_on_copied_songs_when_there_is_one():
    bench = load_benchmark()
    result = {"cpu_cores": 2,
              "stages": {"pose": {"frames": 900, "ray": {"cpu_s": 200.0}},
                         "features": {"song_seconds": 30.0, "ray": {"cpu_s": 30.0},
                                      "copies": {"song_seconds": 300.0, "ray": {"cpu_s": 120.0}}}}}
    # 120 CPU s for 300 s of song on 2 cores: 0.2 s of node time per second of song
    assert bench.capacity(result)["features_s_per_song_s"] == 0.2


def test_scaling_separates_the_cost_per_song_from_the_cost_per_command():
    bench = load_benchmark()
    # serial: 1 s per song + 2 s of imports; Ray: 1.05 s per song + 2 s + 4 s once (workers)
    small = {"songs": 3, "serial": {"cpu_s": 5.0}, "ray": {"cpu_s": 3 * 1.05 + 6.0}}
    large = {"songs": 30, "serial": {"cpu_s": 32.0}, "ray": {"cpu_s": 30 * 1.05 + 6.0}}
    scale = bench.scaling(small, large)
    assert scale["added_songs"] == 27
    assert scale["serial_cpu_s_per_song"] == 1.0
    assert abs(scale["ray_cpu_s_per_song"] - 1.05) < 1e-12
    assert abs(scale["per_song_overhead_pct"] - 5.0) < 1e-9
    assert abs(scale["fixed_overhead_cpu_s"] - 4.0) < 1e-9


def test_replicated_dataset_holds_each_artist_copies_times(tmp_path):
    bench = load_benchmark()
    root = tmp_path / "data"
    (root / "Śrī A" / "song").mkdir(parents=True)
    (root / "Śrī A" / "song" / "vocal_close.wav").write_bytes(b"stem")
    (root / "dataset_metadata.json").write_text(json.dumps(
        {"Śrī A": {"song": {"layout": ["vocal"], "fps": 30, "duration": 12.0}}}), encoding="utf-8")
    out = bench.replicate(root, 3, tmp_path / "copies")
    metadata = json.loads((out / "dataset_metadata.json").read_text(encoding="utf-8"))
    assert list(metadata) == ["Śrī A", "Śrī A #2", "Śrī A #3"]
    assert all(m == metadata["Śrī A"] for m in metadata.values())
    for artist in metadata:
        assert (out / artist / "song" / "vocal_close.wav").read_bytes() == b"stem"


def test_the_overhead_verdict_follows_the_goal():
    bench = load_benchmark()
    pose = {"overhead_pct": 9.9, "shortest_song_s": 10.0}
    assert "within the 10 % goal" in bench.overhead_verdict(pose, {})[0]
    assert "**above** the 10 % goal" in bench.overhead_verdict({**pose, "overhead_pct": 10.0}, {})[0]


def test_songs_by_node_reads_each_stages_per_song_lines():
    bench = load_benchmark()
    stderr = "\n".join([
        "06:00:00 INFO pose_estimation: pose: 2 song(s) as Ray tasks on 2 node(s), 1 CPU(s) each",
        "06:00:01 INFO pose_estimation: Demo A/Varnam Śrī: done [on 10.0.0.1/0123abcd, 3.1 s]",
        "06:00:02 WARNING pose_estimation: Demo B/Pan: skipped: moving [on 10.0.0.1/0123abcd, 0.1 s]",
        "06:00:03 INFO pose_estimation: Demo A/Kriti: done [on 10.0.0.2/89abcdef, 2.0 s]",
        "06:00:04 INFO pose_estimation: post: 1 song(s) as Ray tasks on 2 node(s), 1 CPU(s) each",
        "06:00:05 INFO pose_estimation: Demo A/Varnam Śrī: done [on 10.0.0.2/89abcdef, 0.2 s]"])
    assert bench.songs_by_node(stderr) == {
        "pose": {"10.0.0.1/0123abcd": ["Demo A/Varnam Śrī"], "10.0.0.2/89abcdef": ["Demo A/Kriti"]},
        "post": {"10.0.0.2/89abcdef": ["Demo A/Varnam Śrī"]}}


def test_split_artists_deals_every_artist_to_exactly_one_half(tmp_path):
    bench = load_benchmark()
    root = tmp_path / "data"
    metadata = {name: {"song": {"layout": ["vocal"], "fps": 30, "duration": 12.0}}
                for name in ("B", "Śrī A", "A #2")}
    for artist in metadata:
        (root / artist / "song").mkdir(parents=True)
        (root / artist / "song" / "vocal_close.wav").write_bytes(artist.encode())
    (root / "dataset_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    halves = bench.split_artists(root, [tmp_path / "one", tmp_path / "two"])
    parts = [json.loads((h / "dataset_metadata.json").read_text(encoding="utf-8")) for h in halves]
    assert [sorted(p) for p in parts] == [["A #2", "Śrī A"], ["B"]]      # sorted, dealt in turn
    for half, part in zip(halves, parts):
        assert sorted(p.name for p in half.iterdir() if p.is_dir()) == sorted(part)
        for artist in part:
            assert (half / artist / "song" / "vocal_close.wav").read_bytes() == artist.encode()


def test_the_equal_concurrency_comparison_is_reported_against_the_goal():
    bench = load_benchmark()
    pose = {"overhead_pct": 1.0, "shortest_song_s": 10.0}
    copies = {"songs": 30, "copies": 10, "overhead_pct": 20.0, "one_cpu_overhead_pct": 4.0,
              "pair_overhead_pct": 3.2, "concurrency_cost_pct": 16.3,
              "serial": {"cpu_s_runs": [10.0, 11.0]}}
    features = {"songs": 3, "overhead_pct": 80.0, "copies": copies,
                "scaling": {"serial_cpu_s_per_song": 0.5, "ray_cpu_s_per_song": 0.6,
                            "per_song_overhead_pct": 20.0, "fixed_overhead_cpu_s": 2.0}}
    line = bench.overhead_verdict(pose, features)[0]
    assert "cost +16.3 % more CPU than one serial command" in line
    assert "Ray's two workers cost +3.2 % over the pair on the 30 songs" in line
    assert "+20.0 % (0.600 vs 0.500 CPU s per song), **above** the 10 % goal" in line
    features["scaling"].update(added_songs=27, pair_cpu_s_per_song=0.58,
                               per_song_overhead_vs_pair_pct=3.4)
    line = bench.overhead_verdict(pose, features)[0]
    assert ("Ray 0.600 CPU s against the pair's 0.580, **+3.4 %**, within the 10 % goal"
            in line)


def test_scaling_at_equal_concurrency_compares_ray_with_the_pair():
    bench = load_benchmark()
    small = {"songs": 3, "serial": {"cpu_s": 5.0}, "serial_pair": {"cpu_s": 7.0},
             "ray": {"cpu_s": 11.0}}
    large = {"songs": 30, "serial": {"cpu_s": 32.0}, "serial_pair": {"cpu_s": 7.0 + 27 * 1.1},
             "ray": {"cpu_s": 11.0 + 27 * 1.21}}
    scale = bench.scaling(small, large)
    assert abs(scale["pair_cpu_s_per_song"] - 1.1) < 1e-12
    assert abs(scale["per_song_overhead_vs_pair_pct"] - 10.0) < 1e-9


def test_stages_measured_at_different_commits_name_each():
    bench = load_benchmark()
    same = {"git_commit": "a" * 40, "stages": {"pose": {}, "features": {"git_commit": "a" * 40}}}
    assert bench.measured_at(same) == f"commit `{'a' * 12}`"
    mixed = {"git_commit": "b" * 40, "stages": {"pose": {"git_commit": "a" * 40},
                                                "features": {"git_commit": "b" * 40}}}
    assert bench.measured_at(mixed) == f"pose at commit `{'a' * 12}`, features at commit `{'b' * 12}`"
