# SPDX-License-Identifier: ISC
"""make demo: send one real message with mailhop through a throwaway
Postfix (STARTTLS, SCRAM-SHA-256 via Dovecot) on loopback, show what
arrived and the syslog line, then stop the servers.

Usage: /usr/bin/python3 tests/demo.py PATH-TO-MAILHOP
"""

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

MESSAGE = b"""\
From: Alice <alice@example.org>
To: Bob <bob@example.org>
Subject: Hello from mailhop

Hi Bob,

this message went from mailhop to a real Postfix over STARTTLS,
after SASL authentication with SCRAM-SHA-256.

Alice
"""


def indent(text, prefix="    "):
    return "".join(prefix + ln for ln in text.splitlines(True))


def _terminated(signum, frame):
    raise KeyboardInterrupt("terminated by signal %d" % signum)


def mailhop_arg(prog):
    """The mailhop binary named by the one argument, made absolute; exits
    with a line naming prog when it is missing."""
    if len(sys.argv) != 2:
        sys.exit("usage: %s.py PATH-TO-MAILHOP" % prog)
    mailhop = os.path.abspath(sys.argv[1])
    if not os.access(mailhop, os.X_OK):
        sys.exit("%s: no mailhop binary at %s (run make first)"
                 % (prog, mailhop))
    return mailhop


@contextlib.contextmanager
def servers(prog):
    """with servers("demo") as h: the harness up inside; stopped and its
    directory removed after, on SIGTERM and SIGHUP too.  A start that
    fails exits with one line naming prog."""
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGHUP, _terminated)
    print("Starting a throwaway Postfix, Dovecot and rsyslogd on 127.0.0.1 "
          "...", flush=True)
    h = harness.Harness()
    try:
        h.start()
    except harness.HarnessError as e:
        sys.exit("%s: could not start the test servers: %s" % (prog, e))
    try:
        yield h
    finally:
        h.stop()
        print("\nServers stopped and %s removed." % h.base)


def main():
    mailhop = mailhop_arg("demo")
    with servers("demo") as h:
        return run(h, mailhop)


def run(h, mailhop):
    conf = h.write_config(user="alice", tls="starttls", auth="scram-sha-256",
                          account="demo", name="demo.conf")
    shown = open(conf).read().replace(
        harness.conf_quote(h.users["alice"]), '"********"')
    print("Submission port %d (STARTTLS), test CA %s\n"
          % (h.ports["submission"], h.ca_file))
    if h.private_devlog:
        print(textwrap.fill(
            "%s belongs to the system's syslog daemon, so the test "
            "rsyslogd listens on %s instead, and mailhop runs in a mount "
            "namespace of its own where that socket is mounted over %s."
            % (harness.DEV_LOG, h.syslog_socket, harness.DEV_LOG), 76)
            + "\n")
    print("A config for it (%s, mode 0600):\n" % conf)
    print(indent(shown.expandtabs(4)))
    to = "bob@example.org"
    print("The message, on stdin (no Date or Message-ID: mailhop adds "
          "them):\n")
    print(indent(MESSAGE.decode()))
    print("$ mailhop -C %s %s < message" % (conf, to), flush=True)
    # h.popen: with /dev/log another daemon's, in a mount namespace where
    # /dev/log is our rsyslogd's socket.
    p = h.popen([mailhop, "-C", conf, to], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = p.communicate(MESSAGE, timeout=60)
    if out:
        print(indent(out.decode("utf-8", "replace")))
    print("exit status %d\n" % p.returncode)
    if p.returncode != 0:
        print("demo: mailhop failed; the Postfix log says:")
        print(indent("\n".join(h.read_text(h.maillog).splitlines()[-15:])))
        return 1

    raw = h.wait_for_delivery(to)[-1]
    print("What arrived in %s's Maildir (%s):\n" % (to, h.maildir(to)))
    print(indent(raw.decode("utf-8", "replace")))
    print("mailhop's line in the mail log (from rsyslogd):\n")
    line = h.wait_syslog(r"\bmailhop\[%d\]: " % p.pid)
    print(indent(line + "\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
