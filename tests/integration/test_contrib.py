# SPDX-License-Identifier: ISC
"""contrib/: the systemd units (user and system) are valid for systemd
(systemd-analyze verify, with the path of the built mailhop), each flushes
the queue it says it does, and the cron.d example is a root line of
/etc/cron.d's format that flushes the system queue."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import MAILHOP, REPO

CONTRIB = os.path.join(REPO, "contrib")
ANALYZE = shutil.which("systemd-analyze")
# Root in system mode (mailhop set-group-id); the comments give the -C
# form for an install without it.
SYSTEM_FLUSH = "mailhop -q"


def unit_text(name):
    with open(os.path.join(CONTRIB, "systemd", name)) as f:
        return f.read()


@pytest.mark.skipif(ANALYZE is None, reason="no systemd-analyze")
@pytest.mark.parametrize("base", ["mailhop-flush", "mailhop-flush-system"])
def test_units_verify(tmp_path, base):
    for ext in ("service", "timer"):
        text = unit_text(base + "." + ext).replace(
            "/usr/local/bin/mailhop", os.path.abspath(MAILHOP))
        (tmp_path / (base + "." + ext)).write_text(text)
    r = subprocess.run([ANALYZE, "verify", "--man=no",
                        str(tmp_path / (base + ".service")),
                        str(tmp_path / (base + ".timer"))],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr


def test_units_flush_their_queue():
    user = unit_text("mailhop-flush.service")
    system = unit_text("mailhop-flush-system.service")
    assert re.search(r"(?m)^ExecStart=/usr/local/bin/mailhop -q$", user)
    assert "loginctl enable-linger" in user
    assert re.search(r"(?m)^ExecStart=/usr/local/bin/%s$" % SYSTEM_FLUSH,
                     system)
    assert "User=" not in re.sub(r"(?m)^#.*\n", "", system)  # root
    assert "mailhop -C /etc/mailhop.conf -q" in system
    timer = unit_text("mailhop-flush-system.timer")
    assert re.search(r"(?m)^OnCalendar=\*:0/15$", timer)
    assert re.search(r"(?m)^WantedBy=timers.target$", timer)


def test_cron_d_line():
    with open(os.path.join(CONTRIB, "cron.d", "mailhop")) as f:
        lines = [ln for ln in f.read().splitlines()
                 if ln and not ln.startswith("#")]
    jobs = [ln for ln in lines if not re.match(r"^[A-Z_]+=", ln)]
    assert jobs == ["*/15 * * * * root " + SYSTEM_FLUSH], lines
    assert "PATH=/usr/local/bin:/usr/bin:/bin" in lines
    with open(os.path.join(CONTRIB, "cron.d", "mailhop")) as f:
        assert "mailhop -C /etc/mailhop.conf -q" in f.read()
