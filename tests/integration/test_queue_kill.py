# SPDX-License-Identifier: ISC
"""kill -9 of mailhop at each step of a send and of a flush (issue 6).

The fault server stalls at one step (no greeting, no reply to EHLO,
STARTTLS, AUTH, MAIL, RCPT or DATA, none to the final dot or to BDAT
LAST, none to QUIT);
once mailhop is waiting there it gets SIGKILL.  Then the queue must be
sane: mailq works and lists nothing unreadable, tmp/ holds nothing, every
queued message has the data and envelope it had; and a later flush against
the real Postfix delivers each queued message exactly once (at least once
when the kill came after the final dot: the fault server may have it).

What a killed *sender* guarantees: with the queue on, the message is
published into the queue (msg/, due now, never tried) before the first
connection and held locked by the sender; killed at any step of the
session, it stays there whole, its lock gone with the process, and the
next flush delivers it: exactly once when the kill came before the final
dot, at least once after it (the server that saw the dot may have it
too).  Killed while the message is being written into the queue (before
the rename into msg/), nothing is queued and the caller, told nothing,
still has it.  A flusher never takes a message a live sender holds.  The
flush tests check that a queued message survives every kill intact."""

import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from conftest_fault import *  # noqa: F401,F403
from faultserver import DEFAULT_EHLO_TLS, Scenario, Seq, Sleep, Stall

PASSWORD = "Sup3r-s3cret-pw!"

# step name: (reply key the fault server stalls at, whether the server
# has the whole message by then)
STEPS = {
    "greeting": ("GREETING", False),
    "ehlo": ("EHLO", False),
    "starttls": ("STARTTLS", False),
    "auth": ("AUTH", False),
    "mail": ("MAIL", False),
    "rcpt": ("RCPT", False),
    "data": ("DATA", False),
    "after_dot": ("DOT", True),
    # The server offers CHUNKING: the message goes as BDAT LAST, whose
    # reply the server withholds.
    "after_bdat": ("DOT", True),
    "quit": ("QUIT", True),
}


@pytest.fixture
def state(tmp_path):
    d = tmp_path / "state"
    return {"XDG_STATE_HOME": str(d)}, d / "mailhop" / "queue"


def entries(qdir, area):
    p = qdir / area
    return sorted(os.listdir(p)) if p.is_dir() else []


def message(msgid):
    return ("From: alice@example.org\nSubject: kill test\nMessage-ID: <%s>"
            "\n\nbody of %s\n" % (msgid, msgid)).encode()


def arrived(servers, to, msgid):
    needle = re.escape(("<%s>" % msgid).encode())
    return sum(1 for m in servers.maildir_messages(to)
               if re.search(rb"(?im)^message-id:\s*" + needle, m))


def stall_server(fault, step):
    key = STEPS[step][0]
    ehlo_tls = DEFAULT_EHLO_TLS + (["CHUNKING"] if "bdat" in step else [])
    return fault(Scenario(user="alice", password=PASSWORD, ehlo_tls=ehlo_tls,
                          replies={key: Stall()}, session_timeout=60))


def check_verb(srv, step):
    """The message went with BDAT exactly in the BDAT step."""
    if step in ("after_dot", "after_bdat", "quit"):
        verbs = srv.sessions[-1].verbs()
        assert ("BDAT" in verbs) == (step == "after_bdat"), verbs


def reached(srv, key):
    """mailhop is waiting for the reply the server withholds."""
    if not srv.sessions:
        return False
    s = srv.sessions[-1]
    if key == "GREETING":
        return True
    if key == "DOT":
        return any(c[1] == b"." for c in s.commands)
    return key in s.verbs()


def output(p):
    """What p said, once it has ended (its stdin is closed already)."""
    p.stdin = None
    return p.communicate(timeout=10)


def kill_at(p, srv, key, timeout=15):
    end = time.monotonic() + timeout
    while not reached(srv, key):
        assert p.poll() is None, (
            "mailhop ended before step %s: %r" % (key, output(p)))
        assert time.monotonic() < end, (
            "mailhop never reached step %s: %r" % (key, srv.sessions))
        time.sleep(0.01)
    time.sleep(0.1)  # well inside its wait for the reply
    assert p.poll() is None, output(p)
    p.kill()
    output(p)
    assert p.returncode == -9, p.returncode


def snapshot(qdir, qid):
    """The data of a queued message and its envelope without the fields
    a try may change (attempts, next-try, last-error)."""
    d = qdir / "msg" / qid
    keep = [ln for ln in (d / "env").read_text().splitlines()
            if not ln.startswith(("attempts", "next-try", "last-error"))]
    return (d / "data").read_bytes(), keep


def check_sane(mailhop, conf, env, qdir):
    """mailq works and shows nothing unreadable; tmp/ is empty; every
    message's files are whole (the env ends with "end", data has the
    size the env gives)."""
    res = mailhop.run(["-C", conf, "-bp"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert b"unreadable" not in res.stdout, res.stdout
    assert entries(qdir, "tmp") == []
    for area in ("msg", "failed"):
        for qid in entries(qdir, area):
            text = (qdir / area / qid / "env").read_text()
            assert text.startswith("mailhop-queue 2\n"), text
            assert "\nuid %d\n" % os.getuid() in text, text
            assert text.endswith("\nend\n"), text
            size = int(re.search(r"(?m)^size (\d+)$", text).group(1))
            assert (qdir / area / qid / "data").stat().st_size == size
            assert qid.encode() in res.stdout


@pytest.mark.parametrize("step", list(STEPS))
def test_kill9_sender_at_each_step_leaves_message_queued(
        servers, mailhop, fault, fault_conf, rcpt, state, step):
    """A sender killed mid-session exits by the signal, never 0, and its
    message is in the queue whole (published before the connection): due
    now, never tried, with its envelope.  The next `mailhop -q` against
    Postfix delivers it once, and a second one nothing more; so killed
    before the final dot it arrives exactly once, after it at least once
    (the fault server has a copy too).  Killed while waiting for QUIT's
    reply, the message had its 250 and left the queue then: exactly once,
    at the fault server."""
    env, qdir = state
    key, has_it = STEPS[step]
    to = rcpt()
    msgid = "kill-send-%s-%s@example.org" % (step, uuid.uuid4().hex[:8])
    srv = stall_server(fault, step)
    conf = fault_conf(srv, password=PASSWORD, queue=True)
    p = mailhop.spawn(["-C", conf, "--", to], env=env)
    p.stdin.write(message(msgid))
    p.stdin.close()
    kill_at(p, srv, key)
    check_verb(srv, step)
    check_sane(mailhop, conf, env, qdir)
    assert entries(qdir, "failed") == []
    got = [m for s in srv.sessions for m in s.messages]
    assert len(got) == (1 if has_it else 0), srv.sessions
    if step == "quit":
        assert entries(qdir, "msg") == [], "sent, so no longer queued"
        res = mailhop.run(["-C", servers.write_config(queue=True), "-q"],
                          env=env)
        assert res.rc == 0 and res.stderr == "", res
        servers.wait_queue_empty()
        assert arrived(servers, to, msgid) == 0
        return
    (qid,) = entries(qdir, "msg")
    data, envelope = snapshot(qdir, qid)
    assert ("Message-ID: <%s>" % msgid).encode() in data
    assert data.endswith(b"\r\nbody of %s\r\n" % msgid.encode())
    assert "rcpt %s" % to in envelope and "account test" in envelope
    text = (qdir / "msg" / qid / "env").read_text()
    assert re.search(r"(?m)^attempts 0$", text), text
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == 1
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []
    assert mailhop.run(["-C", up, "-qI"], env=env).rc == 0
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == 1


def tracee(p, timeout=10):
    """The pid of the process strace (p, maybe behind the harness's sh)
    runs: the deepest child below p."""
    end = time.monotonic() + timeout
    while True:
        pid, kids = p.pid, True
        while kids:
            try:
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                pid = int(kids[0])
        comm = open("/proc/%d/comm" % pid).read().strip() if (
            os.path.exists("/proc/%d/comm" % pid)) else ""
        if comm == "mailhop":
            return pid
        assert time.monotonic() < end, "no mailhop under strace"
        time.sleep(0.01)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
@pytest.mark.parametrize("when", ["before_rename", "after_rename"])
def test_kill9_sender_during_queue_write(
        servers, mailhop, fault, fault_conf, rcpt, state, when):
    """Killed while the message goes into the queue, stopped there by
    strace (a delay injected into the rename of tmp/ID into msg/, before
    or after it is done): before, nothing is queued (a directory left in
    tmp/, which no reader looks at and queue_open removes after an hour)
    and nothing is ever delivered, the caller told nothing; after, the
    message is queued whole and the next flush delivers it once.  No
    connection was made either way."""
    env, qdir = state
    to = rcpt()
    msgid = "kill-write-%s-%s@example.org" % (when, uuid.uuid4().hex[:8])
    srv = fault(Scenario(user="alice", password=PASSWORD))
    conf = fault_conf(srv, password=PASSWORD, queue=True)
    delay = "delay_enter" if when == "before_rename" else "delay_exit"
    p = servers.popen(
        ["strace", "-o", "/dev/null", "-e", "trace=renameat2",
         "-e", "inject=renameat2:%s=30000000:when=1" % delay,
         mailhop.path, "-C", conf, "--", to],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, HOME=servers.path("home"), **env))
    p.stdin.write(message(msgid))
    p.stdin.close()
    pid = tracee(p)
    end = time.monotonic() + 15
    moved = (lambda: entries(qdir, "msg")) if when == "after_rename" else (
        lambda: entries(qdir, "tmp"))
    while not moved():
        assert p.poll() is None and time.monotonic() < end, output(p)
        time.sleep(0.01)
    time.sleep(0.2)  # well inside the delay
    assert srv.sessions == []
    os.kill(pid, 9)
    # strace itself may not notice (it waits for the delay it set), so it
    # goes too; mailhop is gone once its /proc entry is.
    p.kill()
    output(p)
    while os.path.exists("/proc/%d/comm" % pid) and open(
            "/proc/%d/stat" % pid).read().split(")")[1].split()[0] != "Z":
        assert time.monotonic() < end + 10, "mailhop still alive"
        time.sleep(0.01)
    assert srv.sessions == []
    if when == "before_rename":
        assert entries(qdir, "msg") == [] and len(entries(qdir, "tmp")) == 1
        (tmp,) = entries(qdir, "tmp")
        shutil.rmtree(qdir / "tmp" / tmp)  # as queue_open will, later
    else:
        assert len(entries(qdir, "msg")) == 1
    check_sane(mailhop, conf, env, qdir)
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == (1 if when == "after_rename"
                                           else 0)
    assert entries(qdir, "msg") == []


def test_flush_never_takes_a_message_a_live_sender_holds(
        servers, mailhop, fault, fault_conf, rcpt, state):
    """While a sender waits for the reply to RCPT, its message is in the
    queue, due, and locked: a concurrent `mailhop -q` (against Postfix)
    leaves it ("being sent by another mailhop").  The sender then
    delivers it and takes it out of the queue, its own flush after the
    send does not send it again, and a later -q finds nothing: one
    delivery in all."""
    env, qdir = state
    to = rcpt()
    msgid = "kill-held-%s@example.org" % uuid.uuid4().hex[:8]
    srv = fault(Scenario(user="alice", password=PASSWORD,
                         replies={"RCPT": [Sleep(4), "250 2.1.5 Ok"]}))
    conf = fault_conf(srv, password=PASSWORD, queue=True, timeout=15)
    p = mailhop.spawn(["-C", conf, "--", to], env=env)
    p.stdin.write(message(msgid))
    p.stdin.close()
    end = time.monotonic() + 15
    while not reached(srv, "RCPT"):
        assert p.poll() is None and time.monotonic() < end, output(p)
        time.sleep(0.01)
    (qid,) = entries(qdir, "msg")
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-qI", "-v"], env=env)
    assert res.rc == 0, res
    assert "1 being sent by another mailhop" in res.stderr, res
    assert p.poll() is None, "the sender was still waiting"
    assert entries(qdir, "msg") == [qid]
    out, err = output(p)
    assert p.returncode == 0, err
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []
    assert len(srv.sessions) == 1
    assert srv.sessions[0].verbs().count("MAIL") == 1
    assert len(srv.sessions[0].messages) == 1
    res = mailhop.run(["-C", up, "-qI"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == 0


@pytest.mark.parametrize("step", list(STEPS))
def test_kill9_flush_at_each_step_keeps_message_intact(
        servers, mailhop, fault, fault_conf, rcpt, state, step):
    """A queued message survives a flusher killed at any step: still in
    msg/ with the same data and envelope (its lock gone with the
    process), and the next flush against Postfix delivers it once.  Killed
    after the final dot, the fault server has a copy too (at least once);
    killed while waiting for QUIT's reply, the message had its 250 and was
    already out of the queue (exactly once)."""
    env, qdir = state
    key, has_it = STEPS[step]
    to = rcpt()
    msgid = "kill-flush-%s-%s@example.org" % (step, uuid.uuid4().hex[:8])
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    res = mailhop.send(down, [to], message(msgid), env=env)
    assert res.rc == 0, res
    (qid,) = entries(qdir, "msg")
    before = snapshot(qdir, qid)
    srv = stall_server(fault, step)
    conf = fault_conf(srv, password=PASSWORD, queue=True)
    p = mailhop.spawn(["-C", conf, "-qI" + qid], env=env)
    p.stdin.close()
    kill_at(p, srv, key)
    check_verb(srv, step)
    check_sane(mailhop, conf, env, qdir)
    got = [m for s in srv.sessions for m in s.messages]
    assert len(got) == (1 if has_it else 0), srv.sessions
    if step == "quit":
        assert entries(qdir, "msg") == [], "sent, so no longer queued"
    else:
        assert entries(qdir, "msg") == [qid]
        assert snapshot(qdir, qid) == before
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-qI"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == (0 if step == "quit" else 1)
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []
    # Nothing more on a second flush.
    assert mailhop.run(["-C", up, "-qI"], env=env).rc == 0
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == (0 if step == "quit" else 1)


@pytest.mark.parametrize("step", ["MAIL", "DOT"])
def test_kill9_in_the_middle_of_a_three_message_flush(
        servers, mailhop, fault, fault_conf, rcpt, state, step):
    """One connection carries the account's messages (RSET between them);
    killed while the server withholds its reply to the second message's
    MAIL (or to its data): the first, which had its 250, is out of the
    queue and not sent again; the second and third stay whole and the next
    flush delivers them once each (the second at least once after DOT:
    the fault server has a copy)."""
    env, qdir = state
    to = [rcpt("m%d" % i) for i in range(3)]
    ids = ["kill-multi-%d-%s@example.org" % (i, uuid.uuid4().hex[:8])
           for i in range(3)]
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    for i in range(3):
        assert mailhop.send(down, [to[i]], message(ids[i]), env=env).rc == 0
        time.sleep(1.05)  # ids start with the second: oldest first
    queued = entries(qdir, "msg")
    assert len(queued) == 3
    before = {q: snapshot(qdir, q) for q in queued}
    srv = fault(Scenario(user="alice", password=PASSWORD,
                         replies={step: Seq("250 2.1.0 Ok" if step == "MAIL"
                                            else "250 2.0.0 Ok: queued",
                                            Stall())},
                         session_timeout=60))
    conf = fault_conf(srv, password=PASSWORD, queue=True)
    p = mailhop.spawn(["-C", conf, "-qI"], env=env)
    p.stdin.close()
    key = "DOT" if step == "DOT" else "MAIL"
    end = time.monotonic() + 15

    def second_reached():
        s = srv.sessions[-1] if srv.sessions else None
        if s is None:
            return False
        if key == "MAIL":
            return s.verbs().count("MAIL") == 2
        return sum(1 for c in s.commands if c[1] == b".") == 2
    while not second_reached():
        assert p.poll() is None and time.monotonic() < end, (
            output(p) if p.poll() is not None else srv.sessions)
        time.sleep(0.01)
    time.sleep(0.1)
    p.kill()
    output(p)
    assert p.returncode == -9
    assert len(srv.sessions) == 1  # one connection for all three
    check_sane(mailhop, conf, env, qdir)
    assert entries(qdir, "msg") == queued[1:]
    for q in queued[1:]:
        assert snapshot(qdir, q) == before[q]
    got = srv.sessions[0].messages
    assert len(got) == (2 if step == "DOT" else 1), got
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-qI"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    assert [arrived(servers, to[i], ids[i]) for i in range(3)] == [0, 1, 1]
    assert entries(qdir, "msg") == []
