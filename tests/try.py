# SPDX-License-Identifier: ISC
"""make try: the servers of make demo (tests/harness.py), kept up for
trying mailhop by hand.  Writes a config, a message and small helpers
into the harness's mailhop/ directory, prints what to paste into another
shell, and waits for Enter, Ctrl-C or the end of stdin; then stops the
servers and removes everything.

Usage: /usr/bin/python3 tests/try.py PATH-TO-MAILHOP
       /usr/bin/python3 tests/try.py --control SOCKET stop|start

The second form is bin/try's: it asks the running try.py, over the
socket, to stop or start Postfix (Harness.postfix_stop/start, which
return once every listener refuses or greets), so that a send queues.
"""

import os
import select
import shlex
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import demo  # noqa: E402
import harness  # noqa: E402

RCPT = "bob@example.org"
CONF = "mailhop.conf"
MESSAGE = "hello.eml"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--control":
        return control(sys.argv[2], sys.argv[3])
    mailhop = demo.mailhop_arg("try")
    with demo.servers("try") as h:
        ctl = setup(h, mailhop)
        print(block(h), flush=True)
        try:
            serve(h, ctl)
        except KeyboardInterrupt:
            pass  # Ctrl-C, SIGTERM, SIGHUP: the documented way out too
    return 0


def control(path, word):
    """bin/try: send word to the running try.py, print its answer; exit 0
    when it did it."""
    if word not in ("stop", "start"):
        sys.exit("usage: try stop | try start")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        sys.exit("try: %s: %s (has make try stopped?)" % (path, e.strerror))
    with s:
        s.sendall(word.encode() + b"\n")
        answer = b""
        while True:
            got = s.recv(4096)
            if not got:
                break
            answer += got
    text = answer.decode("utf-8", "replace")
    sys.stdout.write(text)
    return 0 if text.startswith("Postfix ") else 1


def setup(h, mailhop):
    """The config, the message, bin/ and state/ in h.path("mailhop");
    returns the listening control socket."""
    d = h.path("mailhop")
    # The queue on (it is off in the tests' configs).
    h.write_config(user="alice", tls="starttls", auth="scram-sha-256",
                   account="try", name=CONF, queue=True)
    with open(os.path.join(d, MESSAGE), "wb") as f:
        f.write(demo.MESSAGE)
    os.makedirs(os.path.join(d, "state"), mode=0o700)
    bindir = os.path.join(d, "bin")
    os.makedirs(bindir)
    ctl_path = os.path.join(d, "control")
    # Where /dev/log is another daemon's, command() runs mailhop in a
    # mount namespace whose /dev/log is our rsyslogd's.  env={}: the
    # shell's PWD, not ours.
    run = shlex.join(h.command([mailhop], env={}))
    script(bindir, "mailhop", 'exec %s "$@"' % run)
    script(bindir, "mailq", '# mailq is mailhop -bp\nexec %s -bp "$@"'
           % run)
    script(bindir, "try", 'exec %s %s --control %s "$@"' % (
        shlex.quote(sys.executable), shlex.quote(os.path.abspath(__file__)),
        shlex.quote(ctl_path)))

    if len(os.fsencode(ctl_path)) > 107:
        raise harness.HarnessError("socket path too long for AF_UNIX: %s "
                                   "(set MAILHOP_TEST_TMPDIR to a shorter "
                                   "directory)" % ctl_path)
    ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ctl.bind(ctl_path)
    os.chmod(ctl_path, 0o600)
    ctl.listen(4)
    return ctl


def script(bindir, name, body):
    with open(os.path.join(bindir, name), "w") as f:
        f.write("#!/bin/sh\n# make try (tests/try.py)\n%s\n" % body)
    os.chmod(os.path.join(bindir, name), 0o755)


def block(h):
    """What the user pastes, and where things land: commands at a
    two-space indent, relative to the directory."""
    d = h.path("mailhop")
    box = os.path.relpath(h.maildir(RCPT), d).rstrip("/")
    log = os.path.relpath(h.syslog_file, d)
    send = "mailhop -C %s %s < %s" % (CONF, RCPT, MESSAGE)
    if h.private_devlog:
        others = ["/dev/log is this machine's syslog daemon's: other test "
                  "runs can run", "alongside."]
    else:
        others = ["It holds %s: other test runs (make check, make demo) "
                  "wait for it" % harness.DEV_LOG,
                  "up to MAILHOP_DEVLOG_WAIT seconds (%g by default), "
                  "then stop." % harness.DEVLOG_GRACE]
    return "\n".join([
        "",
        "mailhop try: the servers stay up until you press Enter here "
        "(or Ctrl-C).",
    ] + others + [
        "",
        "Directory, removed at the end: %s" % d,
        "  %-13s config, mode 0600: account try, user alice, STARTTLS"
        % CONF,
        "  %-13s on port %d, SCRAM-SHA-256, CA %s"
        % ("", h.ports["submission"], os.path.relpath(h.ca_file, d)),
        "  %-13s a message from alice@example.org to %s" % (MESSAGE, RCPT),
        "  %-13s XDG_STATE_HOME: the queue is state/mailhop/queue"
        % "state/",
        "  %-13s mailhop, mailq (mailhop -bp), try (stop or start Postfix)"
        % "bin/",
        "",
        "In another shell, as root, paste:",
        "",
        "  cd %s" % d,
        "  export PATH=%s:$PATH" % os.path.join(d, "bin"),
        "  export XDG_STATE_HOME=%s" % os.path.join(d, "state"),
        "",
        "Then send, watch the SMTP dialogue (-v), see what a send would use",
        "without sending (--pretend) and what the server offers "
        "(--serverinfo):",
        "",
        "  " + send,
        "  mailhop -C %s -v %s < %s" % (CONF, RCPT, MESSAGE),
        "  mailhop -C %s --pretend %s < %s" % (CONF, RCPT, MESSAGE),
        "  mailhop -C %s --serverinfo" % CONF,
        "",
        "Mail for %s lands in the Maildir %s/; the newest:"
        % (RCPT, box),
        "",
        '  cat "$(ls -t %s/new/* | head -n 1)"' % box,
        "",
        "mailhop's syslog lines land in %s (Postfix's in %s):"
        % (log, os.path.relpath(h.maillog, d)),
        "",
        "  tail -n 5 %s" % log,
        "",
        "The queue: stop Postfix, and a send is queued (exit 0); mailq lists",
        "it.  Once Postfix is started again, -qI sends it now; -q sends what",
        "is due only (the first retry is due 5 minutes after the failure).",
        "",
        "  try stop",
        "  " + send,
        "  mailq",
        "  try start",
        "  mailhop -C %s -qI" % CONF,
        "",
        "Press Enter here to stop the servers.",
    ])


def serve(h, ctl):
    """Answer bin/try until stdin has a line or ends."""
    while True:
        ready, _, _ = select.select([sys.stdin.fileno(), ctl], [], [])
        if sys.stdin.fileno() in ready:
            os.read(sys.stdin.fileno(), 4096)
            return
        conn, _ = ctl.accept()
        with conn:
            conn.settimeout(5)
            try:
                word = conn.recv(64).decode("ascii", "replace").strip()
                conn.sendall(answer(h, word).encode())
            except OSError:
                pass


def answer(h, word):
    running = h.postfix_running()
    try:
        if word == "stop" and running:
            h.postfix_stop()
            return ("Postfix stopped: its ports refuse connections, so "
                    "a send queues.\n")
        if word == "start" and not running:
            h.postfix_start()
            return "Postfix started: mailhop -C %s -qI sends the queue.\n" \
                % CONF
    except harness.HarnessError as e:
        return "try: %s\n" % e
    if word in ("stop", "start"):
        return "Postfix is already %s.\n" % (
            "running" if running else "stopped")
    return "try: say stop or start\n"


if __name__ == "__main__":
    sys.exit(main())
