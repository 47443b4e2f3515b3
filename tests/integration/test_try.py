# SPDX-License-Identifier: ISC
"""make try (tests/try.py): the block it prints is run as a user would
paste it, into a shell of its own: a send arrives (seen with the printed
command), try stop makes a send queue, try start and -qI deliver it; the
end of stdin stops everything and removes the directory."""

import os
import re
import subprocess
import sys
import time

import pytest

from conftest import MAILHOP, REPO

TRY = os.path.join(REPO, "tests", "try.py")

# Its harness holds /dev/log's lock (direct mode) until it stops: it must
# run before the session's servers take it.
pytestmark = pytest.mark.own_servers


def read_block(p):
    """try.py's output up to its last line, which asks for Enter."""
    out = []
    while True:
        ln = p.stdout.readline()
        if ln == "":
            pytest.fail("try.py ended before its block:\n" + "".join(out))
        out.append(ln)
        if ln.startswith("Press Enter"):
            return "".join(out)


def paragraphs(block):
    """The command paragraphs: runs of lines that all start with two
    spaces, without that indent."""
    paras = []
    for para in re.split(r"\n\s*\n", block):
        lines = para.strip("\n").split("\n")
        if all(ln.startswith("  ") for ln in lines):
            paras.append([ln[2:] for ln in lines])
    return paras


def wait_for(pred, what, timeout=20):
    """Postfix delivers, and rsyslogd writes, a moment after the reply."""
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out waiting for " + what
        time.sleep(0.05)


class Shell:
    """Runs a printed command after the printed setup lines, as a user's
    shell would, with a HOME of the test's own."""

    def __init__(self, setup, home):
        self.setup = "\n".join(setup)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(home), "LANG": "C.UTF-8", "TZ": "UTC"}

    def __call__(self, cmd, rc=0):
        r = subprocess.run(["/bin/sh", "-ec", self.setup + "\n" + cmd],
                           env=self.env, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=120)
        assert r.returncode == rc, "%s: exit %d\n%s%s" % (
            cmd, r.returncode, r.stdout, r.stderr)
        return r.stdout + r.stderr


def finish(p):
    """Close try.py's stdin, as Enter would, and return the rest of its
    output once it has stopped the servers (SIGTERM if it hangs: it
    stops them on that too; never SIGKILL, which would leave them up)."""
    try:
        return p.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        p.terminate()
        return p.communicate(timeout=60)[0]


def test_printed_commands_send_queue_and_flush(tmp_path):
    p = subprocess.Popen([sys.executable, TRY, MAILHOP],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        block = read_block(p)
        run_block(block, tmp_path)
    finally:
        rest = finish(p)
    assert p.returncode == 0, block + rest
    d = re.search(r"^Directory, removed at the end: (\S+)$", block,
                  re.M).group(1)
    base = os.path.dirname(d)
    assert rest.strip() == "Servers stopped and %s removed." % base, rest
    assert not os.path.exists(base)


def run_block(block, home):
    d = re.search(r"^Directory, removed at the end: (\S+)$", block,
                  re.M).group(1)
    assert os.stat(os.path.join(d, "mailhop.conf")).st_mode & 0o777 == 0o600
    assert "other test runs" in block and "/dev/log" in block
    setup, sends, show, tail, queue = paragraphs(block)
    assert setup[0] == "cd " + d
    sh = Shell(setup, home)
    send = sends[0]
    assert send.startswith("mailhop -C ") and "--" not in send, sends
    box = os.path.join(d, re.search(r"ls -t (\S+)/new/", show[0]).group(1))

    def arrived(n):
        try:
            got = len(os.listdir(os.path.join(box, "new")))
        except FileNotFoundError:
            got = 0
        assert got <= n, "%d messages in %s, not %d" % (got, box, n)
        return got == n

    def logged(status):
        lines = sh(tail[0]).splitlines()
        return lines != [] and ("status=" + status) in lines[-1]

    # The send, then each variant; what the show command shows is ours.
    sh(send)
    wait_for(lambda: arrived(1), "the send to arrive")
    assert "Subject: Hello from mailhop" in sh(show[0])
    wait_for(lambda: logged("sent"), "its syslog line")
    assert "<-- 250 " in sh(sends[1])
    wait_for(lambda: arrived(2), "the -v send to arrive")
    assert "account: try" in sh(sends[2])
    assert "AUTH " in sh(sends[3])

    # Postfix down: the send queues (exit 0), mailq lists it, nothing
    # arrives; Postfix up: -qI delivers it and the queue is empty.
    assert queue[0] == "try stop" and queue[1] == send, queue
    assert "Postfix stopped" in sh(queue[0])
    sh(queue[1])
    wait_for(lambda: logged("queued"), "the queued send's syslog line")
    listed = sh(queue[2])
    assert "bob@example.org" in listed and "1 attempt" in listed, listed
    assert arrived(2)
    assert queue[3] == "try start"
    assert "Postfix started" in sh(queue[3])
    assert re.fullmatch(r"mailhop -C \S+ -qI", queue[4]), queue
    sh(queue[4])
    assert "mail queue is empty" in sh(queue[2])
    wait_for(lambda: arrived(3), "the flushed message to arrive")
    assert "Subject: Hello from mailhop" in sh(show[0])
