"""Where a result came from: the code's git commit (for checkpoints and benchmark JSON)."""
from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_PATHS = ("*.py", "Makefile")      # code; not checkpoints, results or docs


def git_commit(repo_root: str | Path = REPO_ROOT, paths: tuple[str, ...] = CODE_PATHS) -> str:
    """``HEAD``'s full hash, with ``-dirty`` when tracked files matching ``paths`` (git pathspecs;
    default: code) differ from it, so that a result says when it came from uncommitted code;
    ``"unknown"`` outside a git checkout (an installed copy, an exported tree)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=repo_root, capture_output=True, text=True,
                              check=False)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown"
        status = git("status", "--porcelain", "--untracked-files=no", "--", *paths)
    except OSError:                     # no git executable
        return "unknown"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")
