"""The pose figures in the READMEs are the ones in the committed benchmark JSON
(``benchmarks/pose_throughput.py``, ``benchmarks/pose_stress.py``)."""
import importlib.util
import json

from core.settings import REPO_ROOT


def load(name):
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_figures_are_rendered_from_the_committed_json():
    bench = load("pose_throughput")
    result = json.loads(bench.RESULTS.read_text())
    assert {r["height"] for r in result["results"]} == {720, 1080}
    for models in ("lite", "full-no-hands", "lite-no-hands"):   # each option at both resolutions
        assert {r["height"] for r in result["results"] if r["holistic_models"] == models} == {720, 1080}
    for r in result["results"]:        # the derived figures follow from the measured ones
        assert abs(r["max_fps_on_idle_cores"] - result["cpu_cores"] * 1000 / r["cpu_ms_per_frame"]) < 0.2
    assert bench.readme_paragraph(result) in (REPO_ROOT / "pose_estimation" / "README.md").read_text()
    assert bench.readme_table_row(result) in (REPO_ROOT / "README.md").read_text()


def test_stress_table_is_rendered_from_the_committed_json():
    bench = load("pose_stress")
    result = json.loads(bench.RESULTS.read_text())
    assert len(result["performers"]) == 18            # six scenes of three performers
    assert result["lowest_recall"] == min(r["recall"] for r in result["performers"])
    assert bench.readme_table(result) in (REPO_ROOT / "pose_estimation" / "README.md").read_text()


def test_options_table_is_rendered_from_the_committed_json():
    bench = load("pose_options")
    result = json.loads(bench.RESULTS.read_text())
    assert [(s["holistic_every"], s["holistic_models"]) for s in result["settings"]] == [
        (1, "full"), (2, "full"), (3, "full"), (1, "lite"), (1, "full-no-hands"), (1, "lite-no-hands")]
    for s in result["settings"]:       # the setting's figure is the mean over the songs
        assert abs(s["cpu_ms_per_frame"] - sum(s["cpu_ms_per_song"]) / len(s["cpu_ms_per_song"])) < 0.1
    # the reference is the default setting: compared with itself, nothing moves or goes missing
    reference = [r for r in result["rows"] if r["setting"] == result["settings"][0]["name"]]
    assert len(reference) == 3 * len(result["songs"])
    assert all(r["displacement_p90_px"] == 0 and r["missing_frames"] == 0 for r in reference)
    assert bench.readme_table(result) in (REPO_ROOT / "pose_estimation" / "README.md").read_text()
