# SPDX-License-Identifier: ISC
"""make bench's own checks (bench/bench.py), which need no server: a
missing tool stops it at the start with one line, and a machine without
git still gets its version line."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "bench", "bench.py")
sys.path.insert(0, os.path.join(REPO, "bench"))

import bench  # noqa: E402


@pytest.mark.skipif(os.geteuid() != 0, reason="bench.py needs root")
def test_missing_tools_one_line(tmp_path):
    """With no tool on PATH and no delay helper, bench.py names them all
    in one line and exits 1 before it starts a server or a namespace."""
    env = dict(os.environ, PATH=str(tmp_path))
    env.pop("MAILHOP_BENCH_NS", None)
    helper = str(tmp_path / "no-delay-helper")
    r = subprocess.run([sys.executable, BENCH, "/bin/true", helper],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("bench: missing "), lines[0]
    for name in ("valgrind (valgrind)", "unshare (util-linux)",
                 "iptables (iptables)", helper):
        assert name in lines[0], lines[0]
    assert "/bin/true" not in lines[0]
    assert "scripts/deps.sh bench" in lines[0]
    assert r.stdout == ""


def test_versions_without_git(tmp_path, monkeypatch):
    """versions() on a machine without git: '(no git)', no traceback."""
    stub = tmp_path / "msmtp"
    stub.write_text("#!/bin/sh\necho 'msmtp version 9.9'\n")
    stub.chmod(0o755)
    monkeypatch.setattr(bench, "MSMTP", str(stub))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert bench.Bench.versions(None) == "mailhop (no git); msmtp version 9.9"
