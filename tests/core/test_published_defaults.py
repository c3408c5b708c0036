"""Published by default, improvements by flag: every stage's default is the published definition
and every option that departs from it is listed in the README's divergences section."""
from __future__ import annotations

import re

from core.settings import REPO_ROOT

# (module with build_parser, option, its published default, the alternative)
OPTIONS = [
    ("feature_extraction.main", "--motion-prep", "published", "robust"),
    ("feature_extraction.main", "--strong-window-features", "published", "all"),
    ("pose_estimation.main", "--wall-art-rule", "published", "top_quarter"),
]


def _parser(module: str):
    import importlib

    return importlib.import_module(module).build_parser()


def _action(parser, option: str):
    return next(a for a in parser._actions if option in a.option_strings)


def divergences_section() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^## Divergences from the published pipeline\n(.*?)(?=^## )", text,
                      re.S | re.M)
    assert match, "README has no 'Divergences from the published pipeline' section"
    return match.group(1)


def test_defaults_are_the_published_definitions():
    for module, option, default, alternative in OPTIONS:
        action = _action(_parser(module), option)
        assert action.default == default, (module, option)
        assert set(action.choices) == {default, alternative}
    from gradient_saliency.cli import build_parser

    assert _action(build_parser("integrated_gradients"), "--num_steps").default == 25
    assert _action(build_parser("integrated_gradients"), "--target-relative-delta").default is None
    makefile = (REPO_ROOT / "Makefile").read_text()
    demo_ig = next(line for line in makefile.splitlines() if "integrated_gradients" in line
                   and "$(PY)" in line)
    assert "--num_steps" not in demo_ig                    # make demo runs the published 25 steps


def test_every_option_is_listed_in_the_readme_divergences():
    section = divergences_section()
    for _, option, _, alternative in OPTIONS:
        assert f"{option} {alternative}" in section, option
    assert "--target-relative-delta" in section
    assert "--include-incorrect-body-detection" in (REPO_ROOT / "README.md").read_text()


def test_pose_holistic_every_frame_by_default():
    """Posing only every K-th frame (interpolating the rest) is an option, listed as a divergence."""
    assert _action(_parser("pose_estimation.main"), "--holistic-every").default == 1
    assert "--holistic-every K" in divergences_section()


def test_pose_holistic_full_models_by_default():
    """The lite pose and hand models are an option, listed as a divergence."""
    action = _action(_parser("pose_estimation.main"), "--holistic-models")
    assert action.default == "full"
    assert set(action.choices) == {"full", "lite", "full-no-hands", "lite-no-hands"}
    assert "--holistic-models lite" in divergences_section()
