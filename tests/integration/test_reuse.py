# SPDX-License-Identifier: ISC
"""Flushing over one connection (issue 6) and the protocol floor (issue 7)
against the real Postfix: every due message of an account goes over ONE
connection with RSET between them, counted in Postfix's own log; a refused
transaction leaves the others alone; queued messages go all or nothing
even with partial_delivery; BDAT (RFC 3030) carries the message,
pipelined with MAIL, RCPT and QUIT, byte-exact, also at 50 MB with a
peak RSS that does not grow with the message."""

import os
import re
import subprocess
import time

import harness
from conftest_fault import *  # noqa: F401,F403
from faultserver import Close, Scenario, Seq
from mailmodel import parse_log

MESSAGE = b"From: alice@example.org\nSubject: reuse %d\n\nbody %d\n"


def entries(qdir, area):
    p = qdir / area
    return sorted(os.listdir(p)) if p.is_dir() else []


def make_due(qdir, qid):
    """Stand in for the wait to the next retry: next-try 0 (queue.c)."""
    p = qdir / "msg" / qid / "env"
    lines = [("next-try 0" if ln.startswith("next-try ") else ln)
             for ln in p.read_text().splitlines()]
    p.write_text("\n".join(lines) + "\n")


def queue_while_down(servers, mailhop, env, qdir, rcpts, extra=None):
    """Send to a closed port so the message is queued; make it due."""
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"], extra=extra)
    before = set(entries(qdir, "msg"))
    res = mailhop.send(down, rcpts, MESSAGE % (len(before), len(before)),
                       env=env)
    assert res.rc == 0, res
    (qid,) = set(entries(qdir, "msg")) - before
    make_due(qdir, qid)
    return qid


def maillog_size(servers):
    return os.path.getsize(servers.maillog)


def smtpd_sessions(servers, offset, count, timeout=20):
    """The Postfix smtpd log lines written since offset, once count
    "disconnect from" lines are among them."""
    deadline = time.time() + timeout
    while True:
        with open(servers.maillog, "rb") as f:
            f.seek(offset)
            lines = f.read().decode("utf-8", "replace").splitlines()
        disc = [ln for ln in lines if " disconnect from " in ln]
        if len(disc) >= count or time.time() > deadline:
            return lines, disc
        time.sleep(0.05)


def connects(lines):
    return [ln for ln in lines if re.search(r"smtpd\[\d+\]: connect from ",
                                            ln)]


def test_flush_sends_five_over_one_connection(servers, mailhop, rcpt,
                                              tmp_path):
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    to = [rcpt("m%d" % i) for i in range(5)]
    for t in to:
        queue_while_down(servers, mailhop, env, qdir, [t])
    assert len(entries(qdir, "msg")) == 5
    up = servers.write_config(queue=True)
    off = maillog_size(servers)
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    for t in to:
        assert len(servers.wait_for_delivery(t)) == 1
    assert entries(qdir, "msg") == []
    lines, disc = smtpd_sessions(servers, off, 1)
    assert len(connects(lines)) == 1, "\n".join(lines)
    assert len(disc) == 1, "\n".join(lines)
    # Postfix counts each command in the disconnect line: five
    # transactions, RSET between them, BDAT for each message.
    assert re.search(r" mail=5 rcpt=5 bdat=5 rset=4 quit=1 ", disc[0]), \
        disc[0]
    servers.wait_queue_empty()
    for t in to:
        assert len(servers.maildir_messages(t)) == 1
    # Each message has its own syslog line, status=sent.
    for t in to:
        line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=%s" % (
            res.pid, re.escape(t)))
        assert parse_log(line.split("]: ", 1)[1])["status"] == "sent", line


def test_refused_message_leaves_the_others_alone(servers, mailhop, rcpt,
                                                 tmp_path):
    """Message 2 of 3 names a recipient Postfix refuses (5xx).  With
    partial_delivery on for the account, the queued message still goes
    all or nothing: nobody gets it and it moves to failed/; messages 1
    and 3 arrive once, all over one connection."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    partial = {"partial_delivery": "on"}
    first, good, last = rcpt("first"), rcpt("good"), rcpt("last")
    queue_while_down(servers, mailhop, env, qdir, [first], partial)
    time.sleep(1.1)  # queue order is by creation time
    bad = queue_while_down(servers, mailhop, env, qdir,
                           [good, "reject@example.org"], partial)
    time.sleep(1.1)
    queue_while_down(servers, mailhop, env, qdir, [last], partial)
    up = servers.write_config(queue=True, extra=partial)
    off = maillog_size(servers)
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0, res
    assert len(servers.wait_for_delivery(first)) == 1
    assert len(servers.wait_for_delivery(last)) == 1
    servers.assert_nothing_delivered(good)
    assert entries(qdir, "msg") == []
    assert entries(qdir, "failed") == [bad]
    lines, disc = smtpd_sessions(servers, off, 1)
    assert len(connects(lines)) == 1, "\n".join(lines)
    assert re.search(r" mail=3 rcpt=3/4 bdat=2 rset=2 quit=1 ", disc[0]), \
        disc[0]
    line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=%s" % (
        res.pid, re.escape(good)))
    log = parse_log(line.split("]: ", 1)[1])
    assert log["status"] == "refused" and "reject@example.org" in \
        log["reply"], line


def big_message(path, size):
    """A message of about size bytes with every header mailhop would add,
    so what arrives is exactly it after Postfix's trace fields; lines of
    76 characters that differ from each other.  Written to path, never
    held whole."""
    head = (b"From: alice@example.org\nTo: someone@example.org\n"
            b"Date: Thu, 03 Dec 2026 12:00:00 +0000\n"
            b"Message-ID: <big.%d@example.org>\nSubject: big\n\n" % size)
    with open(path, "wb") as f:
        f.write(head)
        n, i = len(head), 0
        while n < size:
            line = (b"%08d " % i) + bytes(
                (65 + (i * 7 + k) % 26) for k in range(66)) + b".\n"
            if i % 1000 == 0:
                line = b"." + line[1:]  # a leading dot, no stuffing
            f.write(line)
            n += len(line)
            i += 1
    return n


def run_measured(servers, mailhop, args, stdin_path):
    """Run mailhop under /usr/bin/time with stdin from a file; (exit
    status, peak RSS in KiB, stderr).  time forks mailhop from a small
    process: a wait4 from Python would count the forked Python too
    (ru_maxrss survives exec)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": servers.path("home"), "LANG": "C.UTF-8",
           "XDG_STATE_HOME": servers.path("home", "state")}
    with open(stdin_path, "rb") as f:
        p = servers.popen(["/usr/bin/time", "-f", "maxrss=%M",
                           mailhop.path] + args, stdin=f, env=env,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
        _, err = p.communicate(timeout=300)
    err = err.decode("utf-8", "replace")
    rss = re.findall(r"^maxrss=(\d+)$", err, re.M)
    assert rss, err
    return p.returncode, int(rss[-1]), err


def test_50mb_message_streams_byte_exact_in_flat_memory(servers, mailhop,
                                                        rcpt, tmp_path):
    """BDAT from the spool file in 64 KiB writes: the 50 MB message
    arrives byte for byte, and mailhop's peak RSS is no more than 2 MiB
    above that of a small message (it never holds the message)."""
    conf = servers.write_config(port=servers.ports["big"])
    small_to, big_to = rcpt("small"), rcpt("big")
    small = tmp_path / "small.eml"
    big_message(small, 1000)
    rc, small_rss, err = run_measured(
        servers, mailhop, ["-C", conf, small_to], small)
    assert rc == 0, err
    big = tmp_path / "big.eml"
    big_message(big, 50 * 1000 * 1000)
    rc, big_rss, err = run_measured(
        servers, mailhop, ["-C", conf, big_to], big)
    assert rc == 0, err
    (raw,) = servers.wait_for_delivery(big_to, timeout=120)
    trace, rest = harness.split_trace(raw)
    assert "received" in trace
    want = big.read_bytes()
    assert len(rest) == len(want) and rest == want
    print("peak RSS: small message %d KiB, 50 MB message %d KiB"
          % (small_rss, big_rss))
    assert big_rss - small_rss < 2048, (small_rss, big_rss)
    assert big_rss < 9 * 1024, big_rss  # msmtp: 9.1 MB (PERFORMANCE.md)


def test_lost_connection_leaves_the_rest_queued(servers, mailhop, fault,
                                                fault_conf, tmp_path):
    """Three due messages, one connection; the server takes the first
    and drops the connection after the second's final dot.  The first
    is sent (once), the second is kept as deferred (uncertain: the server
    may have it), the third stays queued: untried, still due, never sent
    twice.  Its next-try 0 (a try forced by -qI, as make_due writes it)
    becomes the time of the run, so that its next failure counts."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    ids = []
    for i in range(3):
        ids.append(queue_while_down(servers, mailhop, env, qdir,
                                    ["bob%d@example.org" % i]))
        time.sleep(1.1)  # queue order is by creation time
    srv = fault(Scenario(user="alice", password="Sup3r-s3cret-pw!",
                         replies={"DOT": Seq("250 2.0.0 Ok: queued as F1",
                                             Close(notify=False))}))
    conf = fault_conf(srv, password="Sup3r-s3cret-pw!", queue=True)
    before = int(time.time())
    res = mailhop.run(["-C", conf, "-q"], env=env)
    assert res.rc == 0, res
    assert srv.wait_idle(5, connections=1), srv.sessions
    assert srv.connections == 1
    (s,) = srv.sessions
    assert len(s.messages) == 2
    assert [v for v in s.verbs() if v in ("MAIL", "RSET", "DATA")] == [
        "MAIL", "DATA", "RSET", "MAIL", "DATA"], s.verbs()
    assert entries(qdir, "msg") == sorted(ids[1:])
    envs = {i: (qdir / "msg" / i / "env").read_text() for i in ids[1:]}
    assert "next-try 0\n" not in envs[ids[1]], envs[ids[1]]
    third = dict(ln.split(" ", 1) for ln in envs[ids[2]].splitlines()
                 if " " in ln)
    assert third["attempts"] == "1", envs[ids[2]]
    assert before <= int(third["next-try"]) <= time.time(), envs[ids[2]]
    line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=bob1@" % res.pid)
    log = parse_log(line.split("]: ", 1)[1])
    assert log["status"] == "deferred" and "uncertain" in log["reply"], line
    line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=bob0@" % res.pid)
    assert parse_log(line.split("]: ", 1)[1])["status"] == "sent", line
    servers.wait_syslog(r"mailhop\[%d\]: queue: account test: connection "
                        r"to localhost lost, 1 message\(s\) left" % res.pid)
    assert not re.search(r"mailhop\[%d\]: .*rcpt=bob2@" % res.pid,
                         "\n".join(servers.syslog_lines()))


def socket_writes(servers, mailhop, conf, rcpts, data, tmp_path):
    """The bytes of each write mailhop made on its TCP socket (strace,
    plain connection, so they are readable)."""
    tr = tmp_path / "strace.txt"
    p = servers.popen(["strace", "-f", "-yy", "-xx", "-s", "100000", "-o",
                       str(tr), "-e", "trace=write,writev,sendto,sendmsg",
                       mailhop.path, "-C", conf, "--"] + rcpts,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    _, err = p.communicate(data, timeout=60)
    assert p.returncode == 0, err
    out = []
    for ln in tr.read_text().splitlines():
        m = re.search(r'\(\d+<TCP:\[[^\]]*\]>, "((?:\\x[0-9a-f]{2})*)"',
                      ln)
        if m and "EAGAIN" not in ln:
            out.append(bytes.fromhex(m.group(1).replace("\\x", "")))
    return out


def test_one_write_per_group(servers, mailhop, rcpt, tmp_path):
    """TCP_NODELAY and one write per pipelined group (issue 7): on the
    plain port, one recipient takes two writes in all, EHLO and then
    MAIL, RCPT, BDAT LAST with the whole message and QUIT; two recipients
    take three, BDAT waiting for the RCPT replies."""
    conf = servers.write_config(user=None, tls="off", auth="off")
    data = b"From: alice@example.org\nSubject: one write\n\n" + \
        b"line\n" * 200
    to = rcpt()
    w = socket_writes(servers, mailhop, conf, [to], data, tmp_path)
    assert [x[:5] for x in w] == [b"EHLO ", b"MAIL "], w
    group = w[1]
    assert re.fullmatch(
        rb"MAIL FROM:<[^>]+> SIZE=(\d+)\r\n"
        rb"RCPT TO:<%s>\r\nBDAT \1 LAST\r\n.*\r\nQUIT\r\n"
        % re.escape(to.encode()), group, re.S), group[:200]
    size = int(re.search(rb"BDAT (\d+) LAST\r\n", group).group(1))
    body = group.split(b" LAST\r\n", 1)[1][:-len(b"QUIT\r\n")]
    assert len(body) == size and body.endswith(b"line\r\nline\r\n")
    (got,) = servers.wait_for_delivery(to)
    assert harness.split_trace(got)[1].replace(b"\n", b"\r\n") == body
    two = [rcpt("a"), rcpt("b")]
    w = socket_writes(servers, mailhop, conf, two, data, tmp_path)
    assert [x[:5] for x in w] == [b"EHLO ", b"MAIL ", b"BDAT "], w
    assert w[1].count(b"RCPT TO:") == 2 and w[2].endswith(b"QUIT\r\n")


def test_flush_without_pipelining_or_chunking(servers, mailhop, fault,
                                              fault_conf, tmp_path):
    """A server without PIPELINING and CHUNKING: the flush still uses one
    connection, one command per round trip, RSET alone before the
    second message and DATA for both; a refused recipient in the middle
    message leaves the others alone."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    for rc_ in (["bob0@example.org"], ["nobody@example.org"],
                ["bob2@example.org"]):
        queue_while_down(servers, mailhop, env, qdir, rc_)
        time.sleep(1.1)  # queue order is by creation time

    def rcpt_reply(sess, line):
        return "550 5.1.1 no such user" if b"nobody@" in line else \
            "250 2.1.5 Ok"
    srv = fault(Scenario(user="alice", password="Sup3r-s3cret-pw!",
                         ehlo=["SIZE 10240000", "STARTTLS", "8BITMIME"],
                         ehlo_tls=["SIZE 10240000", "AUTH PLAIN LOGIN",
                                   "8BITMIME"],
                         replies={"RCPT": rcpt_reply}))
    conf = fault_conf(srv, password="Sup3r-s3cret-pw!", queue=True)
    before = int(time.time())
    res = mailhop.run(["-C", conf, "-q"], env=env)
    assert res.rc == 0, res
    assert srv.wait_idle(5, connections=1), srv.sessions
    assert srv.connections == 1
    (s,) = srv.sessions
    verbs = [v for v in s.verbs("tls") if v not in ("EHLO", "AUTH")]
    assert verbs == ["MAIL", "RCPT", "DATA", ".", "RSET", "MAIL", "RCPT",
                     "RSET", "MAIL", "RCPT", "DATA", ".", "QUIT"], verbs
    assert not any(more for _, _, more in s.commands), s.commands
    assert len(s.messages) == 2
    assert entries(qdir, "msg") == [] and len(entries(qdir, "failed")) == 1


def test_send_carries_the_due_queue_over_its_connection(servers, mailhop,
                                                        rcpt, tmp_path):
    """A send of an account with a due queued message: the new message
    and the queued one go over ONE connection (no QUIT after the first,
    RSET, the queued one, QUIT), each arrives once, the queue is empty,
    and each has its syslog line."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    old, new = rcpt("queued"), rcpt("new")
    queue_while_down(servers, mailhop, env, qdir, [old])
    up = servers.write_config(queue=True)
    off = maillog_size(servers)
    res = mailhop.send(up, [new], MESSAGE % (7, 7), env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert len(servers.wait_for_delivery(new)) == 1
    assert len(servers.wait_for_delivery(old)) == 1
    assert entries(qdir, "msg") == []
    lines, disc = smtpd_sessions(servers, off, 1)
    assert len(connects(lines)) == 1, "\n".join(lines)
    assert len(disc) == 1, "\n".join(lines)
    assert re.search(r" mail=2 rcpt=2 bdat=2 rset=1 quit=1 ", disc[0]), \
        disc[0]
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(old)) == 1
    assert len(servers.maildir_messages(new)) == 1
    for t in (new, old):
        line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=%s" % (
            res.pid, re.escape(t)))
        assert parse_log(line.split("]: ", 1)[1])["status"] == "sent", line


def two_accounts(servers, down):
    """One config with accounts a (user alice) and b (user bob, which may
    also send MESSAGE's From, alice's), both to the closed port (down) or
    to Postfix."""
    kw = dict(queue=True)
    if down:
        kw.update(host="127.0.0.1", timeout=5, port=servers.ports["closed"])
    texts = []
    for account, user, allow in (("a", "alice", None),
                                 ("b", "bob", ["bob@example.org",
                                               "alice@example.org"])):
        with open(servers.write_config(account=account, user=user,
                                       allow_from=allow, **kw)) as f:
            texts.append(f.read())
    path = servers.write_config(**kw)
    body = [ln for ln in texts[1].splitlines()
            if not ln.startswith("default_account")]
    with open(path, "w") as f:
        f.write(texts[0] + "\n".join(body) + "\n")
    return path


def test_flush_two_accounts_two_connections(servers, mailhop, rcpt,
                                            tmp_path):
    """Messages of two accounts queued interleaved: -q opens one
    connection per account, each carrying its own messages only (Postfix
    counts mail=3 rset=2 for one and mail=2 rset=1 for the other, and
    logs each session's SASL user), and every message arrives once."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    down = two_accounts(servers, True)
    order = ["a", "b", "a", "b", "a"]
    to = [rcpt("%s%d" % (acct, i)) for i, acct in enumerate(order)]
    for acct, t in zip(order, to):
        res = mailhop.run(["-C", down, "-a", acct, "--", t],
                          MESSAGE % (0, 0), env=env)
        assert res.rc == 0, res
    for qid in entries(qdir, "msg"):
        make_due(qdir, qid)
    up = two_accounts(servers, False)
    off = maillog_size(servers)
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    for t in to:
        assert len(servers.wait_for_delivery(t)) == 1
    assert entries(qdir, "msg") == []
    lines, disc = smtpd_sessions(servers, off, 2)
    assert len(connects(lines)) == 2, "\n".join(lines)
    assert len(disc) == 2, "\n".join(lines)
    counts = sorted(re.search(r" (mail=\d+ rcpt=\d+ bdat=\d+ (?:rset=\d+ )?"
                              r"quit=1) ", d).group(1) for d in disc)
    assert counts == ["mail=2 rcpt=2 bdat=2 rset=1 quit=1",
                      "mail=3 rcpt=3 bdat=3 rset=2 quit=1"], disc
    users = [re.search(r"sasl_username=(\w+)", ln).group(1)
             for ln in lines if "sasl_username=" in ln]
    assert sorted(users) == ["alice"] * 3 + ["bob"] * 2, users
    for acct, t in zip(order, to):
        line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=%s" % (
            res.pid, re.escape(t)))
        f = parse_log(line.split("]: ", 1)[1])
        assert (f["account"], f["status"]) == (acct, "sent"), line


def pw_command_config(servers, tmp_path, script):
    """A working config whose password comes from a password_command
    that counts its runs (one line each in the returned file)."""
    runs = tmp_path / "pw-runs"
    cmd = tmp_path / "pw.sh"
    cmd.write_text("#!/bin/sh\necho run >> %s\n%s\n" % (runs, script))
    cmd.chmod(0o700)
    conf = servers.write_config(queue=True)
    with open(conf) as f:
        text = f.read()
    text = re.sub(r'\tpassword = .*\n',
                  '\tpassword_command = "%s"\n' % cmd, text)
    with open(conf, "w") as f:
        f.write(text)
    return conf, runs


def test_send_carrying_the_queue_runs_password_command_once(
        servers, mailhop, rcpt, tmp_path):
    """The send's account (its password already used for AUTH) serves the
    queued messages it carries: the password command runs once."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    old, new = rcpt("queued"), rcpt("new")
    queue_while_down(servers, mailhop, env, qdir, [old])
    conf, runs = pw_command_config(
        servers, tmp_path, "echo %s" % servers.users["alice"])
    res = mailhop.send(conf, [new], MESSAGE % (8, 8), env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert len(servers.wait_for_delivery(new)) == 1
    assert len(servers.wait_for_delivery(old)) == 1
    assert entries(qdir, "msg") == []
    assert runs.read_text() == "run\n"


def test_failing_password_command_runs_once_per_flush(servers, mailhop,
                                                      tmp_path):
    """A password command that fails: -q defers the account's three
    messages with its error, says it once, and ran it once."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    for i in range(3):
        queue_while_down(servers, mailhop, env, qdir,
                         ["bob%d@example.org" % i])
    conf, runs = pw_command_config(servers, tmp_path,
                                   "exit 1")
    res = mailhop.run(["-C", conf, "-q"], env=env)
    assert res.rc != 0, res
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "3 messages stay queued" in lines[0], res
    assert runs.read_text() == "run\n"
    assert len(entries(qdir, "msg")) == 3


def test_send_carries_at_most_16(servers, mailhop, rcpt, tmp_path):
    """A send carries at most FLUSH_CARRY_MAX (16) due messages, so that
    its caller does not wait for a big queue; -q sends the rest."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    to = rcpt("many")
    for _ in range(20):
        queue_while_down(servers, mailhop, env, qdir, [to])
    up = servers.write_config(queue=True)
    off = maillog_size(servers)
    res = mailhop.send(up, [to], MESSAGE % (9, 9), env=env)
    assert res.rc == 0 and res.stderr == "", res
    lines, disc = smtpd_sessions(servers, off, 1)
    assert len(connects(lines)) == 1 and len(disc) == 1, "\n".join(lines)
    assert re.search(r" mail=17 rcpt=17 bdat=17 rset=16 quit=1 ", disc[0]), \
        disc[0]
    assert len(entries(qdir, "msg")) == 4
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0, res
    assert entries(qdir, "msg") == []
    servers.wait_for_delivery(to, count=21)
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 21


def test_send_with_nothing_due_keeps_quit_in_its_group(servers, mailhop,
                                                       rcpt, tmp_path):
    """Nothing due (a queued message not due yet): one connection, one
    transaction, QUIT pipelined with it; the queued message stays."""
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    qdir = tmp_path / "state" / "mailhop" / "queue"
    old, new = rcpt("waiting"), rcpt("alone")
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    assert mailhop.send(down, [old], MESSAGE % (1, 1), env=env).rc == 0
    assert len(entries(qdir, "msg")) == 1
    up = servers.write_config(queue=True)
    off = maillog_size(servers)
    res = mailhop.send(up, [new], MESSAGE % (2, 2), env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert len(servers.wait_for_delivery(new)) == 1
    lines, disc = smtpd_sessions(servers, off, 1)
    assert len(connects(lines)) == 1 and len(disc) == 1, "\n".join(lines)
    assert re.search(r" mail=1 rcpt=1 bdat=1 quit=1 ", disc[0]), disc[0]
    assert len(entries(qdir, "msg")) == 1
    servers.assert_nothing_delivered(old)


def test_handshake_flights_leave_in_one_write_each(servers, mailhop, rcpt,
                                                   tmp_path):
    """Implicit TLS to Postfix (TLS 1.3, which asks for a client
    certificate): the ClientHello is one write, and the client's whole
    last flight (ChangeCipherSpec, Certificate, Finished) one more; with
    the records in separate writes the third small packet waited a round
    trip (seen with the bench's held packets)."""
    conf = servers.write_config(tls="implicit")
    data = b"From: alice@example.org\nSubject: flights\n\nbody\n"
    w = socket_writes(servers, mailhop, conf, [rcpt()], data, tmp_path)
    assert w[0][:1] == b"\x16" and len(w) >= 3, [x[:8] for x in w]
    last = w[1]
    assert last.startswith(b"\x14\x03\x03\x00\x01\x01\x17\x03\x03"), \
        [x[:8] for x in w]
    records, i = [], 0
    while i < len(last):
        records.append(last[i])
        i += 5 + int.from_bytes(last[i + 3:i + 5], "big")
    assert i == len(last) and records[0] == 0x14 and len(records) >= 3, \
        records
    assert all(x[:1] == b"\x17" for x in w[2:]), [x[:8] for x in w]


def test_first_command_rides_with_the_last_flight(servers, mailhop, rcpt,
                                                  tmp_path):
    """STARTTLS to Postfix (TLS 1.3, a client certificate asked for): the
    client's last flight (ChangeCipherSpec, Certificate, Finished) stays
    held until the EHLO that follows it, and both leave in one write, so
    the EHLO is not a small packet of its own behind the flight (with the
    bench's held packets it went a round trip later).  In all: EHLO,
    STARTTLS, the ClientHello, flight and EHLO, AUTH, the transaction,
    close_notify."""
    conf = servers.write_config(tls="starttls", auth="plain")
    data = b"From: alice@example.org\nSubject: flight and EHLO\n\nbody\n"
    w = socket_writes(servers, mailhop, conf, [rcpt()], data, tmp_path)
    assert [x[:5] for x in w[:2]] == [b"EHLO ", b"START"], w[:2]
    assert w[2][:1] == b"\x16" and len(w) == 7, [x[:8] for x in w]
    records, i = [], 0
    while i < len(w[3]):
        records.append(w[3][i])
        i += 5 + int.from_bytes(w[3][i + 3:i + 5], "big")
    assert i == len(w[3]) and records == [0x14, 0x17, 0x17, 0x17], records
