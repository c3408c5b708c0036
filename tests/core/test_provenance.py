"""``core.provenance.git_commit`` on a throw-away repository."""
from __future__ import annotations

import subprocess

from core.provenance import git_commit


def git(root, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)


def test_commit_hash_and_dirty_code_but_not_dirty_data(tmp_path):
    assert git_commit(tmp_path) == "unknown"                      # not a repository
    git(tmp_path, "init", "-q")
    (tmp_path / "m.py").write_text("x = 1\n")
    (tmp_path / "model.pt").write_bytes(b"weights")
    git(tmp_path, "add", "m.py", "model.pt")
    git(tmp_path, "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert git_commit(tmp_path) == head and len(head) == 40
    (tmp_path / "model.pt").write_bytes(b"retrained")             # data: still the same code
    (tmp_path / "new.py").write_text("untracked\n")               # untracked: not in the commit
    assert git_commit(tmp_path) == head
    (tmp_path / "m.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "-dirty"
