# SPDX-License-Identifier: ISC
"""Fixtures for the integration tests.

servers: the harness (tests/harness.py), started once per test session.
mailhop: runs the binary (env MAILHOP, default ./mailhop at the repo top;
         env MAILHOP_ASAN, default build/mailhop-asan, for the sanitizer
         build) and returns its exit code, output and pid.  It runs with
         servers.popen(), so that its syslog line reaches the harness's
         rsyslogd even where /dev/log belongs to journald.
rcpt:    makes recipient addresses no other test uses, so each test reads
         only its own Maildirs.
Tests marked own_servers start a harness of their own (make try) and run
first, before `servers`: a harness whose rsyslogd listens on /dev/log
holds the lock every other harness waits for until the session ends.
"""

import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

# Helper modules' asserts explain themselves like the tests' own.
pytest.register_assert_rewrite("harness", "mailmodel")

import harness  # noqa: E402

MAILHOP = os.environ.get("MAILHOP", os.path.join(REPO, "mailhop"))
MAILHOP_ASAN = os.environ.get("MAILHOP_ASAN",
                              os.path.join(REPO, "build", "mailhop-asan"))

# Lines for the corpus summary, filled by test_corpus.py.
CORPUS_SUMMARY = {}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "own_servers: starts its own harness; runs before "
        "the session's servers start")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: item.get_closest_marker("own_servers")
               is None)


def _terminated(signum, frame):
    # A killed test run (timeout, CI cancel) still stops its servers:
    # pytest tears fixtures down on KeyboardInterrupt.
    raise KeyboardInterrupt("terminated by signal %d" % signum)


@pytest.fixture(scope="session")
def servers():
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    h = harness.Harness()
    h.start()
    try:
        yield h
    finally:
        h.stop()


class Result:
    def __init__(self, argv, rc, stdout, stderr, pid):
        self.argv = argv
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr.decode("utf-8", "replace")
        self.pid = pid

    def __repr__(self):
        return "<mailhop %s: exit %d, stderr %r>" % (
            " ".join(self.argv[1:]), self.rc, self.stderr)


class Mailhop:
    def __init__(self, servers, path):
        self.servers = servers
        self.path = path

    def spawn(self, args, binary=None, env=None):
        """Start mailhop with args as run() does and return the Popen
        (stdin, stdout and stderr are pipes; its pid is mailhop's)."""
        binary = binary or self.path
        if not os.access(binary, os.X_OK):
            pytest.fail("no mailhop binary at %s (run `make`, or set "
                        "MAILHOP)" % binary)
        home = self.servers.path("home")
        os.makedirs(home, exist_ok=True)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config"),
             "XDG_STATE_HOME": os.path.join(home, "state"),
             "LANG": "C.UTF-8", "TZ": "UTC"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(env or {})
        return self.servers.popen([binary] + list(args),
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=e)

    def run(self, args, data=b"", binary=None, timeout=60, env=None):
        """Run mailhop with args, data on stdin; returns a Result."""
        binary = binary or self.path
        if not os.access(binary, os.X_OK):
            pytest.fail("no mailhop binary at %s (run `make`, or set "
                        "MAILHOP)" % binary)
        home = self.servers.path("home")
        os.makedirs(home, exist_ok=True)
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
             "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config"),
             "XDG_STATE_HOME": os.path.join(home, "state"),
             "LANG": "C.UTF-8", "TZ": "UTC"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(env or {})
        argv = [binary] + list(args)
        p = self.servers.popen(argv, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=e)
        try:
            out, err = p.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail("mailhop did not finish in %ss: %r" % (timeout, err))
        return Result(argv, p.returncode, out, err, p.pid)

    def send(self, config, rcpts, data, extra_args=(), **kw):
        return self.run(["-C", config] + list(extra_args) + ["--"]
                        + list(rcpts), data, **kw)


@pytest.fixture(scope="session")
def mailhop(servers):
    return Mailhop(servers, MAILHOP)


@pytest.fixture(scope="session")
def mailhop_asan(servers):
    return Mailhop(servers, MAILHOP_ASAN)


@pytest.fixture
def rcpt(request, servers):
    """rcpt("to") -> "to-<test>-<random>@example.org", unique per call and
    registered as a mailbox with the test server."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40]

    def make(tag="rcpt", domain="example.org"):
        return servers.add_mailbox("%s-%s-%s@%s" % (
            tag, name.strip("-"), uuid.uuid4().hex[:8], domain))
    return make


def pytest_terminal_summary(terminalreporter):
    if not CORPUS_SUMMARY:
        return
    tr = terminalreporter
    by = {"sent": [], "refused": [], "failed": []}
    for k in sorted(CORPUS_SUMMARY):
        by[CORPUS_SUMMARY[k][0]].append((k, CORPUS_SUMMARY[k][1]))
    changes = {}
    for _, chg in by["sent"]:
        for c in chg:
            changes[c] = changes.get(c, 0) + 1
    out = ["%d messages: sent %d (arrived as expected), refused %d, "
           "failed %d" % (len(CORPUS_SUMMARY), len(by["sent"]),
                          len(by["refused"]), len(by["failed"]))]
    if changes:
        out.append("changes in the sent ones: " + "; ".join(
            "%s %d" % kv for kv in sorted(changes.items())))
    out += ["  refused %s: %s" % kv for kv in by["refused"]]
    out += ["  FAILED  %s: %s" % kv for kv in by["failed"]]
    tr.write_sep("-", "CPython email corpus through mailhop and Postfix")
    for ln in out:
        tr.write_line(ln)
    path = os.environ.get("MAILHOP_CORPUS_SUMMARY")
    if path:
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
