"""The separation speed figures in README.md and separation/README.md are the committed JSON's."""
import json

from conftest import load_script
from core.settings import REPO_ROOT

BENCH = REPO_ROOT / "benchmarks" / "separation_speed.py"


def load_benchmark():
    return load_script(BENCH)


def test_speed_tables_are_rendered_from_the_committed_json():
    bench = load_benchmark()
    result = json.loads(bench.RESULT_JSON.read_text())
    assert {(r["device"], r["preset"]) for r in result["rows"]} >= {("cpu", "small"), ("cpu", "vovit")}
    assert bench.readme_row(result) in (REPO_ROOT / "README.md").read_text()
    assert bench.package_table(result) in (REPO_ROOT / "separation" / "README.md").read_text()


def test_rendering_known_answer():
    bench = load_benchmark()
    result = {"load_average": {"before": 3.2, "after": 5.9},
              "rows": [{"device": "cpu", "preset": "small", "parameters": 1_430_000, "rtf": 0.5,
                        "train_steps_per_s": 0.25, "batch": 4},
                       {"device": "cpu", "preset": "vovit", "parameters": 26_700_000, "rtf": 8.0,
                        "train_steps_per_s": 0.004, "batch": 2}]}
    assert bench.readme_row(result) == (
        "| separation (CPU, load 3–6; `benchmarks/results/separation_speed.json`) | `small`: "
        "real-time factor 0.50, 0.25 training steps/s (batch 4); `vovit`: real-time factor 8.00, "
        "0.004 training steps/s (batch 2) | — |")
    assert bench.package_table(result).splitlines()[-1] == (
        "| cpu | `vovit` (face) | 26.70 M | 8.00 | 16.0 | 0.004 (2) |")
