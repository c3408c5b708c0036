"""README's Ray benchmark and capacity figures are the ones in the committed benchmark JSON."""
import importlib.util
import json

from core.settings import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks" / "ray_executor_throughput.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("ray_executor_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_ray_section_is_rendered_from_the_committed_json():
    bench = load_benchmark()
    result = json.loads(bench.RESULT_JSON.read_text())
    assert result["capacity"] == bench.capacity(result)
    assert bench.readme_section(result) in (REPO_ROOT / "README.md").read_text()


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
