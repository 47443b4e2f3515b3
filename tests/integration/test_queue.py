# SPDX-License-Identifier: ISC
"""The queue (issue 6) against the real Postfix: a temporary failure queues
(exit 0, status=queued), mailq lists it, -q delivers it once; a permanent
refusal keeps a copy in failed/; queue = off keeps nothing and exits 75.
Each test has its own XDG_STATE_HOME, so its own queue."""

import os
import re
import subprocess
import time
import uuid

import pytest

from conftest_fault import *  # noqa: F401,F403
from conftest_fault import _mount_wrapper
from faultserver import Close, Scenario
from mailmodel import check_error_line, check_log, parse_log

MESSAGE = b"From: alice@example.org\nSubject: queue test\n\nbody\n"


@pytest.fixture
def state(tmp_path):
    """The environment of a run with a queue of its own, and its dir."""
    d = tmp_path / "state"
    return {"XDG_STATE_HOME": str(d)}, d / "mailhop" / "queue"


def entries(qdir, area):
    p = qdir / area
    return sorted(os.listdir(p)) if p.is_dir() else []


def mailq(mailhop, conf, env):
    res = mailhop.run(["-C", conf, "-bp"], env=env)
    assert res.rc == 0, res
    return res.stdout.decode("utf-8", "replace")


def flush(servers, mailhop, conf, env):
    res = mailhop.run(["-C", conf, "-q"], env=env)
    assert res.rc == 0, res
    return res


def test_closed_port_queues_then_flush_delivers_once(servers, mailhop,
                                                     rcpt, state):
    env, qdir = state
    to = rcpt()
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    res = mailhop.send(down, [to], MESSAGE, env=env)
    assert res.rc == 0, res
    assert res.stderr == "", res  # not a terminal, no -v
    check_log(servers, res, status="queued", exit=0, host="127.0.0.1")
    log = parse_log(servers.mailhop_syslog(res.pid))
    assert "refused" in log["reply"] or "connect" in log["reply"], log
    assert len(entries(qdir, "msg")) == 1
    listing = mailq(mailhop, down, env)
    assert to in listing and entries(qdir, "msg")[0] in listing, listing
    # The same account, now pointed at the working submission port.  The
    # first retry is minutes away: a plain -q leaves it queued, -qI<id>
    # makes it due now.
    up = servers.write_config(queue=True)
    flush(servers, mailhop, up, env)
    (qid,) = entries(qdir, "msg")
    res = mailhop.run(["-C", up, "-qI" + qid], env=env)
    assert res.rc == 0, res
    # A flush's line names the queued message it sent.
    check_log(servers, res, status="sent", exit=0, rcpt=to, queue=qid)
    got = servers.wait_for_delivery(to)
    assert len(got) == 1
    assert entries(qdir, "msg") == []
    assert "mail queue is empty" in mailq(mailhop, up, env)
    flush(servers, mailhop, up, env)
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 1


def test_verbose_says_queued(servers, mailhop, rcpt, state):
    env, qdir = state
    conf = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    res = mailhop.send(conf, [rcpt()], MESSAGE, extra_args=["-v"], env=env)
    assert res.rc == 0, res
    assert "mailhop: queued: " in res.stderr, res
    assert len(entries(qdir, "msg")) == 1


def test_bs_says_queued(servers, mailhop, rcpt, state):
    """-bs with the queue on and the server down: the 250 to the dot says
    the message was queued, as which, and why, not that it was sent."""
    env, qdir = state
    to = rcpt()
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    dialogue = (b"EHLO client.example.org\r\nMAIL FROM:<>\r\n"
                b"RCPT TO:<" + to.encode() + b">\r\nDATA\r\n"
                b"Subject: bs queued\r\n\r\nx\r\n.\r\nQUIT\r\n")
    res = mailhop.run(["-C", down, "-bs"], dialogue, env=env)
    assert res.rc == 0 and res.stderr == "", res
    (qid,) = entries(qdir, "msg")
    replies = res.stdout.decode().split("\r\n")
    assert replies[-3:] == [replies[-3], "221 2.0.0 Bye", ""], replies
    assert replies[-3].startswith(
        "250 2.0.0 Ok: not sent yet, queued as %s for a later try: " % qid), \
        replies
    assert "refused" in replies[-3] or "connect" in replies[-3], replies
    check_log(servers, res, status="queued", queue=qid)
    mailhop.run(["-C", down, "-qD" + qid], env=env)
    assert entries(qdir, "msg") == []


def test_timeout_queues(servers, mailhop, rcpt, state):
    """A server that takes the connection and never greets: the account's
    timeout ends the wait, and with the queue on the message is queued,
    exit 0, the log line status=queued with the timeout as its reason."""
    env, qdir = state
    to = rcpt()
    conf = servers.write_config(host="127.0.0.1", timeout=1, queue=True,
                                port=servers.ports["silent"])
    t = time.monotonic()
    res = mailhop.send(conf, [to], MESSAGE, env=env)
    elapsed = time.monotonic() - t
    assert res.rc == 0 and res.stderr == "", res
    assert 0.8 < elapsed < 10, elapsed
    check_log(servers, res, status="queued", exit=0, rcpt=to,
              reply=re.compile(r"^timed out waiting for the server"))
    (qid,) = entries(qdir, "msg")
    # The log line names the queued copy.
    check_log(servers, res, status="queued", queue=qid)
    assert env_field(qdir, "msg", qid, "last-error").startswith(
        "timed out waiting for the server")
    assert env_field(qdir, "msg", qid, "attempts") == "1"


@pytest.fixture(scope="session")
def mailhop_dead_dns(servers):
    """mailhop whose /etc/resolv.conf names a resolver that is not there
    (nothing listens on 127.0.0.1:53): a name not in /etc/hosts fails
    with EAI_AGAIN, "Temporary failure in name resolution"."""
    d = servers.path("dead-dns")
    os.makedirs(d, exist_ok=True)
    resolv = os.path.join(d, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    os.chmod(resolv, 0o644)
    return _mount_wrapper(servers, "dead-dns",
                          (resolv, "/etc/resolv.conf"))


def test_temporary_dns_failure_queues(servers, mailhop_dead_dns, rcpt,
                                      state):
    """A lookup the resolver cannot answer for now (EAI_AGAIN) is a
    temporary failure: queued, exit 0, status=queued with the reason;
    the name is not called unknown (68) as a missing one would be."""
    env, qdir = state
    to = rcpt()
    conf = servers.write_config(host="mail.example.com", timeout=5,
                                queue=True)
    res = mailhop_dead_dns.send(conf, [to], MESSAGE, env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="queued", exit=0, rcpt=to,
              reply="cannot look up host mail.example.com: "
                    "Temporary failure in name resolution")
    (qid,) = entries(qdir, "msg")
    assert env_field(qdir, "msg", qid, "last-error") == (
        "cannot look up host mail.example.com: "
        "Temporary failure in name resolution")


def test_4xx_recipient_queues(servers, mailhop, state):
    env, qdir = state
    conf = servers.write_config(queue=True)
    res = mailhop.send(conf, ["tempfail@example.org"], MESSAGE, env=env)
    assert res.rc == 0, res
    check_log(servers, res, status="queued", exit=0)
    assert len(entries(qdir, "msg")) == 1
    assert "tempfail@example.org" in mailq(mailhop, conf, env)


def test_partial_delivery_queues_only_the_4xx_recipient(servers, mailhop,
                                                        rcpt, state):
    env, qdir = state
    good = rcpt()
    conf = servers.write_config(queue=True,
                                extra={"partial_delivery": "on"})
    res = mailhop.send(conf, [good, "tempfail@example.org"], MESSAGE,
                       env=env)
    assert res.rc == 0, res
    lines = [parse_log(ln) for ln in
             servers.mailhop_syslog_lines(res.pid, 2, "msgid=")]
    assert [(f["status"], f["rcpt"], f["exit"]) for f in lines] == [
        ("sent", good, "0"), ("queued", "tempfail@example.org", "0")], lines
    assert len(servers.wait_for_delivery(good)) == 1
    (msg,) = entries(qdir, "msg")
    envfile = (qdir / "msg" / msg / "env").read_text()
    rcpts = [ln.split(" ", 1)[1] for ln in envfile.splitlines()
             if ln.startswith("rcpt ")]
    assert rcpts == ["tempfail@example.org"], envfile


def rcpts_of(qdir, area, qid):
    text = (qdir / area / qid / "env").read_text()
    return [ln.split(" ", 1)[1] for ln in text.splitlines()
            if ln.startswith("rcpt ")]


def test_partial_delivery_4xx_and_5xx(servers, mailhop, rcpt, state):
    """partial_delivery = on, one recipient accepted, one refused with
    5xx, one with 4xx: the accepted one gets it, the 4xx one is queued
    and retried (mailhop.conf(5)), the 5xx one is kept in failed/ alone;
    exit 67 for the refused one, a log line for each outcome."""
    env, qdir = state
    good = rcpt()
    msgid = "split-%s@example.org" % uuid.uuid4().hex
    conf = servers.write_config(queue=True,
                                extra={"partial_delivery": "on"})
    res = mailhop.send(conf, [good, "reject@example.org",
                              "tempfail@example.org"],
                       with_msgid(msgid), env=env)
    check_error_line(res, 67, "reject@example.org", "tempfail@example.org",
                     "the other recipients got the message",
                     "queued for retry")
    servers.wait_for_delivery(good)
    (queued,) = entries(qdir, "msg")
    (failed,) = entries(qdir, "failed")
    assert rcpts_of(qdir, "msg", queued) == ["tempfail@example.org"]
    assert rcpts_of(qdir, "failed", failed) == ["reject@example.org"]
    lines = [parse_log(ln) for ln in
             servers.mailhop_syslog_lines(res.pid, 3, "msgid=")]
    assert [(f["status"], f["rcpt"], f["exit"]) for f in lines] == [
        ("sent", good, "0"), ("refused", "reject@example.org", "67"),
        ("queued", "tempfail@example.org", "0")], lines
    # Each line, and each kept copy, with its own recipients' reply.
    assert lines[0]["reply"].startswith("250 "), lines
    assert "reject@" in lines[1]["reply"], lines
    assert "tempfail@" not in lines[1]["reply"], lines
    assert "tempfail@" in lines[2]["reply"], lines
    assert "reject@" not in lines[2]["reply"], lines
    for area, qid, mine, other in (("msg", queued, "tempfail@", "reject@"),
                                   ("failed", failed, "reject@",
                                    "tempfail@")):
        err = [ln for ln in (qdir / area / qid / "env").read_text()
               .splitlines() if ln.startswith("last-error ")]
        assert mine in err[0] and other not in err[0], (area, err)
    # The queued part is retried (4xx again: still queued, attempt 2),
    # never to the one who has it, nor to the refused one.
    set_env(qdir, queued, **{"next-try": 1})  # due, not forced
    res = mailhop.run(["-C", conf, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="deferred", rcpt="tempfail@example.org")
    assert entries(qdir, "msg") == [queued]
    assert "\nattempts 2\n" in (qdir / "msg" / queued / "env").read_text()
    servers.wait_queue_empty()
    assert arrived(servers, good, msgid) == 1


def test_partial_delivery_5xx_keeps_only_the_refused(servers, mailhop, rcpt,
                                                     state):
    """After a partial delivery the failed/ copy names only the refused
    recipient, so that sending it again (-qI) never reaches one who has
    the message."""
    env, qdir = state
    good = rcpt()
    conf = servers.write_config(queue=True,
                                extra={"partial_delivery": "on"})
    res = mailhop.send(conf, [good, "reject@example.org"], MESSAGE, env=env)
    (failed,) = entries(qdir, "failed")
    line = check_error_line(res, 67, "reject@example.org")
    assert line.endswith(
        "; the other recipients got the message; a copy for the recipients "
        "refused for good is in the failed area (mailhop -qI%s sends it "
        "again, -qD%s deletes it)" % (failed, failed)), line
    lines = [parse_log(ln) for ln in
             servers.mailhop_syslog_lines(res.pid, 2, "msgid=")]
    assert [(f["status"], f["rcpt"], f["exit"], f.get("queue"))
            for f in lines] == [
        ("sent", good, "0", None),
        ("refused", "reject@example.org", "67", failed)], lines
    assert rcpts_of(qdir, "failed", failed) == ["reject@example.org"]
    assert entries(qdir, "msg") == []


def test_permanent_refusal_is_kept_in_failed(servers, mailhop, fault,
                                             fault_conf, state):
    env, qdir = state
    conf = servers.write_config(queue=True)
    res = mailhop.send(conf, ["reject@example.org"], MESSAGE, env=env)
    assert entries(qdir, "msg") == []
    assert len(entries(qdir, "failed")) == 1
    (qid,) = entries(qdir, "failed")
    # One line, which says where the copy is, so that one who fixes the
    # cause and sends again does not later send it twice; the log line
    # names it too.
    line = check_error_line(res, 67, "reject@example.org")
    assert line.endswith(
        "; a copy is in the failed area (mailhop -qI%s sends it again, "
        "-qD%s deletes it)" % (qid, qid)), line
    check_log(servers, res, status="refused", exit=67, queue=qid)
    envtext = (qdir / "failed" / qid / "env").read_text()
    # A permanent failure is not retried: -q, even with the message made
    # due long ago and past its lifetime, against a server that would
    # take it, makes no connection and logs no line for it, and leaves
    # it in failed/ as it was.
    srv = fault(Scenario(tls="none"))
    fconf = fault_conf(srv, queue=True)
    lines = [("created 1" if ln.startswith("created ") else
              "next-try 0" if ln.startswith("next-try ") else ln)
             for ln in envtext.splitlines()]
    (qdir / "failed" / qid / "env").write_text("\n".join(lines) + "\n")
    quiet = mailhop.run(["-C", fconf, "-q", "-v"], env=env)
    assert quiet.rc == 0, quiet
    assert "0 sent, 0 still queued, 0 moved to the failed area" in \
        quiet.stderr, quiet
    assert srv.connections == 0, srv.connections
    assert entries(qdir, "failed") == [qid] and entries(qdir, "msg") == []
    assert (qdir / "failed" / qid / "env").read_text().splitlines() == \
        lines
    # -qI<id> puts it back and tries it at once: refused again, it is
    # back in failed/.
    res = mailhop.run(["-C", conf, "-qI" + qid], env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="refused", exit=67)
    assert entries(qdir, "failed") == [qid] and entries(qdir, "msg") == []
    # rsyslogd writes lines in the order they came: the -qI line is there,
    # so a line of the -q run would be too.
    tag = "mailhop[%d]: " % quiet.pid
    assert [ln for ln in servers.syslog_lines() if tag in ln] == [], tag


def test_failed_message_sent_again_with_qI(servers, mailhop, rcpt, state):
    """A message refused for a reason since fixed (a wrong password: the
    send exits 77 and keeps it in failed/) is sent again by -qI<id>, and
    -qIfailed puts the whole failed area back; each arrives once."""
    env, qdir = state
    one, two, three = rcpt("one"), rcpt("two"), rcpt("three")
    msgids = {}
    wrong = servers.write_config(queue=True, password="wrong-password")
    for to in (one, two, three):
        msgids[to] = "again-%s@example.org" % uuid.uuid4().hex
        res = mailhop.send(wrong, [to], with_msgid(msgids[to]), env=env)
        check_error_line(res, 77, "authentication failed",
                         "; a copy is in the failed area (mailhop -qI")
    assert len(entries(qdir, "failed")) == 3 and entries(qdir, "msg") == []
    listing = mailq(mailhop, wrong, env)
    assert "(failed, account test, uid %d: authentication failed" \
        % os.getuid() in listing, \
        listing
    right = servers.write_config(queue=True)
    first = next(i for i in entries(qdir, "failed")
                 if one in (qdir / "failed" / i / "env").read_text())
    res = mailhop.run(["-C", right, "-qI" + first], env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="sent", exit=0, rcpt=one)
    servers.wait_for_delivery(one)
    assert len(entries(qdir, "failed")) == 2
    # -qIfailed: the rest, with a count on a terminal or with -v
    res = mailhop.run(["-C", right, "-v", "-qIfailed"], env=env)
    assert res.rc == 0, res
    assert "mailhop: 2 failed messages back in the queue" in res.stderr, res
    for to in (two, three):
        servers.wait_for_delivery(to)
    servers.wait_queue_empty()
    assert entries(qdir, "failed") == [] and entries(qdir, "msg") == []
    for to in (one, two, three):
        assert arrived(servers, to, msgids[to]) == 1
    line = servers.wait_syslog(r"mailhop\[%d\]: queue: 2 failed messages "
                               r"put back in the queue by uid 0" % res.pid)
    assert line


def test_queue_off_exits_75_and_keeps_nothing(servers, mailhop, rcpt,
                                              state):
    env, qdir = state
    conf = servers.write_config(host="127.0.0.1", timeout=5,
                                port=servers.ports["closed"])
    res = mailhop.send(conf, [rcpt()], MESSAGE, env=env)
    check_error_line(res, 75, "not sent")
    check_log(servers, res, status="deferred", exit=75)
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []


def test_queue_cannot_be_written(servers, mailhop, rcpt, tmp_path):
    """The queue directory cannot be made: the exit code is the queue's
    (73), with its error, and the log line says the run failed here
    (status=failed): the server refused nothing."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    conf = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    res = mailhop.send(conf, [rcpt()], MESSAGE,
                       env={"XDG_STATE_HOME": str(blocker)})
    line = check_error_line(res, 73, "could not be queued")
    assert "Connection refused" in line or "connect" in line, line
    check_log(servers, res, status="failed", exit=73)


def test_queue_others_may_enter_is_73(servers, mailhop, rcpt, state):
    """A user queue that is not private is refused with 73, as the man
    page says (77 would mean a refused login), status=failed, and nothing
    is written into it."""
    env, qdir = state
    qdir.mkdir(parents=True)
    os.chmod(qdir, 0o755)
    conf = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    res = mailhop.send(conf, [rcpt()], MESSAGE, env=env)
    check_error_line(res, 73, "could not be queued", "not private",
                     "chmod 700")
    check_log(servers, res, status="failed", exit=73)
    assert os.listdir(qdir) == []
    res = mailhop.run(["-C", conf, "-bp"], env=env)
    check_error_line(res, 73, "not private")


def test_lost_after_final_dot_is_queued(servers, mailhop, fault,
                                        fault_conf, state):
    """DESIGN.md, "Uncertain delivery": the server may have the message;
    it is queued (duplicates over loss) and the log says uncertain."""
    env, qdir = state
    srv = fault(Scenario(user="alice", password="Sup3r-s3cret-pw!",
                         replies={"DOT": Close(notify=False)}))
    conf = fault_conf(srv, password="Sup3r-s3cret-pw!", queue=True)
    res = mailhop.send(conf, ["bob@example.org"], MESSAGE, env=env)
    assert srv.wait_idle(5, connections=1), srv.sessions
    assert res.rc == 0, res
    check_log(servers, res, status="queued", exit=0)
    assert "uncertain" in parse_log(servers.mailhop_syslog(res.pid))["reply"]
    assert srv.sessions[0].messages
    assert len(entries(qdir, "msg")) == 1


def test_flush_with_the_account_gone_keeps_it(servers, mailhop, rcpt,
                                              state):
    """A queued message whose account is no longer in the configuration
    stays queued (deferred: the attempt counts, so it still expires),
    with one line worded for the queue, not for -a; the rest of the queue
    is flushed all the same."""
    env, qdir = state
    gone, kept = rcpt("gone"), rcpt("kept")
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    assert mailhop.send(down, [gone], MESSAGE, env=env).rc == 0
    (qid,) = entries(qdir, "msg")
    time.sleep(1.1)  # queue order is by creation time
    other_down = servers.write_config(
        account="other", host="127.0.0.1", timeout=5, queue=True,
        port=servers.ports["closed"])
    assert mailhop.send(other_down, [kept], MESSAGE, env=env).rc == 0
    other = servers.write_config(account="other", queue=True)
    res = mailhop.run(["-C", other, "-qI"], env=env)
    line = check_error_line(res, 78, "queued message %s belongs to account "
                            "test, which is no longer in %s" % (qid, other),
                            "mailhop -qD" + qid)
    assert "-a " not in line, line
    assert len(servers.wait_for_delivery(kept)) == 1
    assert entries(qdir, "msg") == [qid]
    fields = parse_log(servers.mailhop_syslog(res.pid))
    assert fields["status"] == "deferred" and fields["rcpt"] == gone, fields
    assert "no longer in" in fields["reply"], fields
    envfile = (qdir / "msg" / qid / "env").read_text()
    assert "\nattempts 1\n" in envfile, envfile  # -qI: not counted
    assert "no longer in" in mailq(mailhop, other, env)
    # A plain -q while it is not due: nothing said, exit 0.
    res = mailhop.run(["-C", other, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res


def set_env(qdir, qid, **fields):
    """Set fields of a queued envelope (queue.c's format), as another
    time would have written them; "next-try" as a ** key."""
    p = qdir / "msg" / qid / "env"
    lines = []
    for ln in p.read_text().splitlines():
        key = ln.split(" ", 1)[0]
        lines.append("%s %s" % (key, fields[key]) if key in fields else ln)
    p.write_text("\n".join(lines) + "\n")


def make_due(qdir, qid):
    """Stand in for the five minutes to the first retry: set next-try
    (queue.c's env format) to 0."""
    p = qdir / "msg" / qid / "env"
    lines = [("next-try 0" if ln.startswith("next-try ") else ln)
             for ln in p.read_text().splitlines()]
    p.write_text("\n".join(lines) + "\n")


def env_field(qdir, area, qid, key):
    """One field of a queued envelope (queue.c's format)."""
    for ln in (qdir / area / qid / "env").read_text().splitlines():
        if ln.split(" ", 1)[0] == key:
            return ln.split(" ", 1)[1] if " " in ln else ""
    raise KeyError(key)


def test_mailq_row_id_age_size_sender_rcpts_error(servers, mailhop, state):
    """mailq's whole entry for a message queued 2 h 13 min ago: id, size,
    age 2h13m, arrival time and sender; account, submitter's uid,
    attempts, next try and last error; each recipient on its own line;
    then the total."""
    env, qdir = state
    to = ["x@example.org", "y@example.net"]
    down = queue_down(servers, mailhop, env, [])
    res = mailhop.send(down, to, MESSAGE, env=env)
    assert res.rc == 0, res
    (qid,) = entries(qdir, "msg")
    now = int(time.time())
    created = now - (2 * 3600 + 13 * 60 + 30)
    set_env(qdir, qid, created=created, **{"next-try": now + 600})
    size = int(env_field(qdir, "msg", qid, "size"))
    last = env_field(qdir, "msg", qid, "last-error")
    assert size == os.path.getsize(qdir / "msg" / qid / "data"), size
    assert "refused" in last or "connect" in last, last
    listing = mailq(mailhop, down, env)
    arrival = time.strftime("%a %b %e %H:%M:%S", time.gmtime(created))
    want = ("%-24s %8s %6s %-20s %s\n" % (
                "-Queue ID-", "--Size--", "-Age--", "----Arrival Time----",
                "-Sender/Recipient-------")
            + "%-23s  %8d  2h13m %-20s alice@example.org\n" % (
                qid, size, arrival)
            + "  (account test, uid %d, 1 attempt, next try in 10 min: %s)\n"
            % (os.getuid(), last)
            + "%62s%s\n%62s%s\n\n" % ("", to[0], "", to[1])
            + "-- 1 Kbytes in 1 Request.\n")
    assert listing == want, (listing, want)


def test_format1_envelope_listed_and_flushed(servers, mailhop, rcpt, state):
    """An envelope written by a mailhop before the uid line (format 1:
    format 2 without it) is still read: mailq lists it with "uid
    unknown", a failed try keeps it format 1, and -qI sends it with
    uid=- on the flush line.  A message of this mailhop has uid=<ours>
    in its envelope, on its queued line and on its flush line."""
    env, qdir = state
    old, new = rcpt("old"), rcpt("new")
    down = queue_down(servers, mailhop, env, [])
    res = mailhop.send(down, [old], MESSAGE, env=env)
    assert res.rc == 0, res
    check_log(servers, res, status="queued", uid=os.getuid())
    (qid,) = entries(qdir, "msg")
    p = qdir / "msg" / qid / "env"
    text = p.read_text()
    assert text.startswith("mailhop-queue 2\naccount test\n"
                           "sender alice@example.org\nuid %d\ncreated "
                           % os.getuid()), text
    text = text.replace("mailhop-queue 2\n", "mailhop-queue 1\n", 1)
    text = re.sub(r"(?m)^uid \d+\n", "", text)
    p.write_text(text)
    res = mailhop.send(down, [new], MESSAGE, env=env)
    assert res.rc == 0, res
    (qnew,) = [i for i in entries(qdir, "msg") if i != qid]

    listing = mailq(mailhop, down, env)
    assert "unreadable" not in listing, listing
    assert re.search(r"(?m)^%s .*\n  \(account test, uid unknown, 1 attempt, "
                     r"next try in \d+ min: " % qid, listing), listing
    assert re.search(r"(?m)^%s .*\n  \(account test, uid %d, 1 attempt, "
                     % (qnew, os.getuid()), listing), listing
    set_env(qdir, qid, **{"next-try": 1})  # due, not forced: it counts
    res = mailhop.run(["-C", down, "-q"], env=env)  # still down
    assert res.rc == 0, res
    check_log(servers, res, status="deferred", queue=qid, uid="-")
    text = p.read_text()
    assert text.startswith("mailhop-queue 1\n") and "\nuid" not in text \
        and "\nattempts 2\n" in text, text

    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-qI" + qid], env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="sent", rcpt=old, queue=qid, uid="-")
    res = mailhop.run(["-C", up, "-qI" + qnew], env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="sent", rcpt=new, queue=qnew,
              uid=os.getuid())
    assert len(servers.wait_for_delivery(old)) == 1
    assert len(servers.wait_for_delivery(new)) == 1
    assert entries(qdir, "msg") == []


def test_successful_send_flushes_the_account(servers, mailhop, rcpt,
                                             state):
    env, qdir = state
    first, second = rcpt("first"), rcpt("second")
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    assert mailhop.send(down, [first], MESSAGE, env=env).rc == 0
    (qid,) = entries(qdir, "msg")
    make_due(qdir, qid)
    up = servers.write_config(queue=True)
    res = mailhop.send(up, [second], MESSAGE, env=env)
    assert res.rc == 0 and res.stderr == "", res
    check_log(servers, res, status="sent", rcpt=second)
    assert len(servers.wait_for_delivery(second)) == 1
    assert len(servers.wait_for_delivery(first)) == 1
    assert entries(qdir, "msg") == []
    line = servers.wait_syslog(r"mailhop\[%d\]: .*rcpt=%s" % (
        res.pid, re.escape(first)))
    assert "status=sent" in line, line


def with_msgid(msgid, subject="queue test"):
    return ("From: alice@example.org\nSubject: %s\nMessage-ID: <%s>\n"
            "\nbody of %s\n" % (subject, msgid, msgid)).encode()


def arrived(servers, to, msgid):
    """How many copies of the message with msgid are in to's Maildir."""
    needle = ("<%s>" % msgid).encode()
    return sum(1 for m in servers.maildir_messages(to)
               if re.search(rb"(?im)^message-id:\s*" + re.escape(needle),
                            m))


def test_postfix_stopped_then_started(servers, mailhop, rcpt, state):
    """The real server down: Postfix stopped (`postfix stop`), a send is
    queued (exit 0, status=queued, connection refused); Postfix started,
    the flush delivers it exactly once and the queue is empty."""
    env, qdir = state
    to = rcpt()
    msgid = "stopped-%s@example.org" % uuid.uuid4().hex
    conf = servers.write_config(queue=True)
    with servers.postfix_stopped():
        res = mailhop.send(conf, [to], with_msgid(msgid), env=env)
        assert res.rc == 0 and res.stderr == "", res
        fields = check_log(servers, res, status="queued", exit=0,
                           msgid=msgid)
        assert "refused" in fields["reply"], fields
        (qid,) = entries(qdir, "msg")
        # Down, a forced flush only defers it again.
        res = mailhop.run(["-C", conf, "-qI" + qid], env=env)
        assert res.rc == 0, res
        assert entries(qdir, "msg") == [qid]
        line = servers.wait_syslog(r"mailhop\[%d\]: " % res.pid)
        assert "status=deferred" in line, line
    assert arrived(servers, to, msgid) == 0
    res = mailhop.run(["-C", conf, "-qI" + qid], env=env)
    assert res.rc == 0, res
    check_log(servers, res, status="sent", exit=0, rcpt=to)
    servers.wait_for_delivery(to)
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == 1
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []
    # Flushing again sends nothing more.
    flush(servers, mailhop, conf, env)
    servers.wait_queue_empty()
    assert arrived(servers, to, msgid) == 1


def queue_down(servers, mailhop, env, rcpts, n=1):
    """Queue n messages for each of rcpts through the closed port; returns
    the down config."""
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    for to in rcpts:
        for _ in range(n):
            assert mailhop.send(down, [to], MESSAGE, env=env).rc == 0
    return down


def test_qI_alone_sends_every_queued_message_now(servers, mailhop, rcpt,
                                                 state):
    """-qI without an id makes every queued message due; -v says what the
    run did; a forced try that fails does not double the delay (the
    attempt count stays, the unit test checks the delay)."""
    env, qdir = state
    one, two = rcpt("one"), rcpt("two")
    down = queue_down(servers, mailhop, env, [one, two])
    assert len(entries(qdir, "msg")) == 2
    res = mailhop.run(["-C", down, "-v", "-q"], env=env)
    assert res.rc == 0, res
    assert ("mailhop: queue: 0 sent, 0 still queued, 0 moved to the failed "
            "area; 2 not due yet (-qI sends all now)") in res.stderr, res
    res = mailhop.run(["-C", down, "-v", "-qI"], env=env)
    assert res.rc == 0, res
    assert ("mailhop: queue: 0 sent, 2 still queued, 0 moved to the failed "
            "area\n") in res.stderr, res
    for qid in entries(qdir, "msg"):
        envfile = (qdir / "msg" / qid / "env").read_text()
        assert "\nattempts 1\n" in envfile, envfile
    up = servers.write_config(queue=True)
    res = mailhop.run(["-C", up, "-v", "-qI"], env=env)
    assert res.rc == 0, res
    assert ("mailhop: queue: 2 sent, 0 still queued, 0 moved to the failed "
            "area\n") in res.stderr, res
    assert len(servers.wait_for_delivery(one)) == 1
    assert len(servers.wait_for_delivery(two)) == 1
    assert entries(qdir, "msg") == []


def test_qD_deletes_one_message(servers, mailhop, rcpt, state):
    env, qdir = state
    keep, drop = rcpt("keep"), rcpt("drop")
    down = queue_down(servers, mailhop, env, [keep, drop])
    ids = {}
    for qid in entries(qdir, "msg"):
        text = (qdir / "msg" / qid / "env").read_text()
        ids[keep if keep in text else drop] = qid
    res = mailhop.run(["-C", down, "-v", "-qD" + ids[drop]], env=env)
    assert res.rc == 0, res
    assert "mailhop: deleted %s" % ids[drop] in res.stderr, res
    assert entries(qdir, "msg") == [ids[keep]]
    line = servers.wait_syslog(r"mailhop\[%d\]: " % res.pid)
    assert "queue %s: deleted by uid 0" % ids[drop] in line, line
    listing = mailq(mailhop, down, env)
    assert keep in listing and drop not in listing, listing
    # Gone already, or not an id at all: 64, saying so.
    res = mailhop.run(["-C", down, "-qD" + ids[drop]], env=env)
    check_error_line(res, 64, ids[drop], "mailq lists them")
    res = mailhop.run(["-C", down, "-qD../x"], env=env)
    check_error_line(res, 64, "no message")
    res = mailhop.run(["-C", down, "-qD"], env=env)
    check_error_line(res, 64, "-qD needs a queue id")
    assert entries(qdir, "msg") == [ids[keep]]


def test_qDfailed_clears_the_failed_area(servers, mailhop, rcpt, state):
    """Refused messages are listed (marked !, counted in the total) and
    -qDfailed removes them all, and only them."""
    env, qdir = state
    conf = servers.write_config(queue=True)
    for _ in range(2):
        res = mailhop.send(conf, ["reject@example.org"], MESSAGE, env=env)
        assert res.rc == 67, res
    queue_down(servers, mailhop, env, [rcpt()])
    assert len(entries(qdir, "failed")) == 2
    listing = mailq(mailhop, conf, env)
    assert "in 3 Requests, 2 failed." in listing, listing
    for qid in entries(qdir, "failed"):
        assert re.search(re.escape(qid) + r" *!", listing), listing
    res = mailhop.run(["-C", conf, "-v", "-qDfailed"], env=env)
    assert res.rc == 0, res
    assert "mailhop: deleted 2 failed messages" in res.stderr, res
    assert entries(qdir, "failed") == []
    assert len(entries(qdir, "msg")) == 1
    res = mailhop.run(["-C", conf, "-qDfailed"], env=env)
    assert res.rc == 0 and res.stderr == "", res


def on_a_terminal(servers, argv, env, data=None):
    """Run argv with standard error on a pty (and data on stdin, or
    /dev/null); returns (exit code, what the pty got)."""
    import pty
    master, slave = pty.openpty()
    try:
        p = servers.popen(argv, stdin=subprocess.PIPE if data is not None
                          else subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=slave,
                          env=dict(os.environ, **env))
        if data is not None:
            p.stdin.write(data)
            p.stdin.close()
        rc = p.wait(30)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the pty has no writer left
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)
    return rc, out.decode()


def test_q_on_a_terminal_says_what_it_did(servers, mailhop, rcpt, state):
    """-q with standard error on a terminal (a pty) ends with the count;
    not on a terminal (cron) it says nothing (the other tests)."""
    env, qdir = state
    down = queue_down(servers, mailhop, env, [rcpt()])
    res = mailhop.run(["-C", down, "-qI"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    rc, out = on_a_terminal(servers, [mailhop.path, "-C", down, "-qI"], env)
    assert rc == 0
    assert out == ("mailhop: queue: 0 sent, 1 still queued, 0 "
                   "moved to the failed area\r\n"), out
    assert len(entries(qdir, "msg")) == 1


def test_send_on_a_terminal_says_queued(servers, mailhop, rcpt, state):
    """A send queued with standard error on a terminal says so, and why,
    in one line (off a terminal and without -v it is silent)."""
    env, qdir = state
    conf = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    rc, out = on_a_terminal(servers, [mailhop.path, "-C", conf, "--",
                                      rcpt()], env, MESSAGE)
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailhop: queued: "), out
    assert "refused" in lines[0] or "connect" in lines[0], out
    assert len(entries(qdir, "msg")) == 1


STRACE = "/usr/bin/strace"


def traced_send(servers, mailhop, tmp_path, state):
    """A send queued under strace (-y: each fd with its path): the
    directory and rename calls and fsyncs, in order, as (call, paths)."""
    env, qdir = state
    conf = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    out = tmp_path / "trace"
    res = mailhop.run(["-f", "-y", "-o", str(out), "-e",
                       "trace=mkdir,mkdirat,fsync,rename,renameat,renameat2",
                       mailhop.path, "-C", conf, "--", "x@example.org"],
                      MESSAGE, binary=STRACE, env=env)
    assert res.rc == 0, res
    calls = []
    for ln in out.read_text().splitlines():
        m = re.match(r"(?:\[pid +\d+\] |\d+ +)?(\w+)\((.*)\) += 0$", ln)
        if not m:
            continue
        # fd<path> and "string" arguments, in order
        args = re.findall(r'\d+<([^>]*)>|AT_FDCWD<([^>]*)>|"([^"]*)"',
                          m.group(2))
        calls.append((m.group(1), [a or b or c for a, b, c in args]))
    return calls, qdir


@pytest.mark.skipif(not os.access(STRACE, os.X_OK), reason="no strace")
def test_queue_put_syncs_in_order(servers, mailhop, tmp_path, state):
    """queue.c's crash-safety argument, as the system calls show it: each
    queue directory made is fsynced into its parent; a send's message
    goes into msg/ before the connection by a rename of tmp/ID, nothing of
    it fsynced (it needs only survive a kill then); once the attempt has
    failed, its data, its directory and msg/ are fsynced, then the new
    env, which is renamed over env, and the directory again: all of it
    before mailhop exits 0."""
    calls, qdir = traced_send(servers, mailhop, tmp_path, state)
    for d in (qdir.parent, qdir, qdir / "tmp", qdir / "msg",
              qdir / "failed"):
        made = [i for i, (c, a) in enumerate(calls)
                if (c == "mkdir" and a == [str(d)]) or
                (c == "mkdirat" and os.path.join(*a[:2]) == str(d))]
        assert len(made) == 1, (d, calls)
        assert ("fsync", [str(d.parent)]) in calls[made[0] + 1:], \
            (d, calls[made[0]:])
    (qid,) = entries(qdir, "msg")
    tmpd, msgd = str(qdir / "tmp" / qid), str(qdir / "msg" / qid)
    publish = ("renameat2", [str(qdir / "tmp"), qid, str(qdir / "msg"), qid])
    order = [publish,
             ("fsync", [msgd + "/data"]), ("fsync", [msgd]),
             ("fsync", [str(qdir / "msg")]),
             ("fsync", [msgd + "/env.new"]),
             ("renameat", [msgd, "env.new", msgd, "env"]),
             ("fsync", [msgd])]
    assert publish in calls, calls
    first = calls.index(publish)
    # nothing of the message is fsynced before it is in msg/
    assert not [c for c in calls[:first] if c[0] == "fsync" and
                c[1][0].startswith(tmpd)], calls
    # (msg/ and the message's directory were fsynced before: made, or in
    # an earlier step of the list)
    seen = []
    for c in calls[first:]:
        if len(seen) < len(order) and c == order[len(seen)]:
            seen.append(c)
    assert seen == order, calls[first:]


TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure
FAULT_PW = "Sup3r-s3cret-pw!"

# A connection that cannot be opened, for a reason that is the account's
# (its password, its host, its server's certificate, greeting, EHLO,
# TLS), not any message's: (config or fault scenario, exit code, words).
ACCOUNT_FAILURES = {
    "wrong-password": (dict(password="wrong-password"), 77,
                       "authentication failed"),
    "no-such-host": (dict(host="mail.example.invalid"), 68, "example.invalid"),
    "untrusted-cert": (dict(ca_file="other-ca"), 69, "not trusted"),
    "554-greeting": (Scenario(greeting="554 5.3.2 no service here"), 69,
                     "refused the session"),
    "protocol-error": (Scenario(replies={"EHLO": "999 what"}), 76,
                       "malformed reply"),
    "tls-alert": (Scenario(tls="implicit", handshake=[TLS_ALERT]), 69,
                  "alert"),
}


@pytest.mark.parametrize("case", sorted(ACCOUNT_FAILURES))
def test_account_failure_keeps_the_queue(servers, mailhop, fault,
                                         fault_conf, rcpt, state, case):
    """Issue 6, finding 1: one connection-level permanent error during a
    flush moved the account's whole due queue to failed/.  Now each
    message stays queued (status=deferred with the reason, the attempt
    counted, mailq showing it), -q says the account's error once and
    exits with its code, and once the account is fixed every message
    arrives exactly once."""
    env, qdir = state
    spec, code, words = ACCOUNT_FAILURES[case]
    to = [rcpt("m%d" % i) for i in range(3)]
    msgids = ["acct-%s-%d@example.org" % (uuid.uuid4().hex[:10], i)
              for i in range(3)]
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    for t, m in zip(to, msgids):
        assert mailhop.send(down, [t], with_msgid(m), env=env).rc == 0
    ids = entries(qdir, "msg")
    assert len(ids) == 3
    if isinstance(spec, Scenario):
        spec.user, spec.password = "alice", FAULT_PW
        bad = fault_conf(fault(spec), password=FAULT_PW, queue=True)
    else:
        kw = dict(spec, queue=True, timeout=5)
        if kw.get("ca_file") == "other-ca":
            kw["ca_file"] = os.path.join(servers.pki, "other-ca.pem")
        bad = servers.write_config(**kw)
    res = mailhop.run(["-C", bad, "-qI"], env=env)
    line = check_error_line(res, code, "account test", words,
                            "3 messages stay queued")
    assert entries(qdir, "msg") == ids, line
    assert entries(qdir, "failed") == [], line
    lines = [parse_log(ln) for ln in
             servers.mailhop_syslog_lines(res.pid, 3, "msgid=")]
    assert sorted(f["msgid"] for f in lines) == sorted(msgids), lines
    for f in lines:
        assert f["status"] == "deferred" and f["exit"] == str(code), f
        assert words in f["reply"], f
    for qid in ids:
        text = (qdir / "msg" / qid / "env").read_text()
        assert "\nattempts 1\n" in text, text  # -qI: a forced try
        assert words in text, text
    listing = mailq(mailhop, bad, env)
    states = [ln for ln in listing.splitlines() if "(account test, " in ln]
    assert len(states) == 3 and all(words in ln for ln in states), listing
    assert "(failed," not in listing and " failed." not in listing, listing
    # A plain -q of the broken account: they are not due, nothing said.
    res = mailhop.run(["-C", bad, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    # Fixed: all three go, once.
    good = servers.write_config(queue=True)
    res = mailhop.run(["-C", good, "-qI"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    servers.wait_queue_empty()
    for t, m in zip(to, msgids):
        servers.wait_for_delivery(t)
        assert arrived(servers, t, m) == 1
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []


def test_account_failure_counts_toward_the_lifetime(servers, mailhop,
                                                    state):
    """A message whose account keeps failing (a wrong password) still
    expires: past its five days, the next failure moves it to failed/
    as expired."""
    env, qdir = state
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"])
    assert mailhop.send(down, ["x@example.org"], MESSAGE, env=env).rc == 0
    (qid,) = entries(qdir, "msg")
    set_env(qdir, qid, created=int(time.time()) - 5 * 86400 - 1,
            **{"next-try": 0})
    bad = servers.write_config(queue=True, password="wrong-password")
    res = mailhop.run(["-C", bad, "-q"], env=env)
    check_error_line(res, 77, "account test", "1 expired (moved to the "
                     "failed area)")
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == [qid]
    check_log(servers, res, status="expired", exit=77)


def test_default_lifetime_five_days_then_expired(servers, mailhop, rcpt,
                                                 state):
    """Without a lifetime setting a message may wait five days: one
    queued 5 days minus a minute ago is deferred again, one queued 5 days
    and a second ago expires at its next try (due for that, although its
    next try was hours away): status=expired in the log, moved to
    failed/, and mailq says it expired, not that it was refused."""
    env, qdir = state
    old, young = rcpt("old"), rcpt("young")
    down = queue_down(servers, mailhop, env, [old])
    time.sleep(1.1)  # queue order is by creation time
    queue_down(servers, mailhop, env, [young])
    ids = {}
    for qid in entries(qdir, "msg"):
        text = (qdir / "msg" / qid / "env").read_text()
        ids[old if old in text else young] = qid
    now = int(time.time())
    set_env(qdir, ids[old], created=now - 5 * 86400 - 1,
            **{"next-try": now + 3 * 3600})
    set_env(qdir, ids[young], created=now - 5 * 86400 + 60,
            **{"next-try": now - 1})
    res = mailhop.run(["-C", down, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert entries(qdir, "msg") == [ids[young]]
    assert entries(qdir, "failed") == [ids[old]]
    by = {}
    for ln in servers.mailhop_syslog_lines(res.pid, 2, "msgid="):
        f = parse_log(ln)
        by[f["rcpt"]] = f
    assert by[old]["status"] == "expired", by
    assert "refused" in by[old]["reply"] or "connect" in by[old]["reply"]
    assert by[young]["status"] == "deferred", by
    listing = mailq(mailhop, down, env)
    m = re.search(r"\(account test, uid %d: expired after 5 days; last "
                  r"error: [^)]*\)" % os.getuid(), listing)
    assert m and ("refused" in m.group(0) or "connect" in m.group(0)), \
        listing
    assert "(failed," not in listing, listing
    assert "1 failed." in listing, listing


def queue_down_lifetime(servers, mailhop, env, rcpts, lifetime):
    """queue_down with queue_lifetime = lifetime on the account."""
    down = servers.write_config(host="127.0.0.1", timeout=5, queue=True,
                                port=servers.ports["closed"],
                                extra={"queue_lifetime": lifetime})
    for to in rcpts:
        assert mailhop.send(down, [to], MESSAGE, env=env).rc == 0
    return down


def ids_by_rcpt(qdir, rcpts):
    ids = {}
    for qid in entries(qdir, "msg"):
        text = (qdir / "msg" / qid / "env").read_text()
        (to,) = [r for r in rcpts if "\nrcpt %s\n" % r in text]
        ids[to] = qid
    return ids


def test_queue_lifetime_short_then_expired(servers, mailhop, rcpt, state):
    """queue_lifetime = 2h: a message queued 2 h and a second ago expires
    at the -q that follows (due for that, its next try hours away):
    status=expired, moved to failed/, "expired after 2 hours" in mailq;
    one queued 2 h less a minute ago is deferred again."""
    env, qdir = state
    old, young = rcpt("old"), rcpt("young")
    down = queue_down_lifetime(servers, mailhop, env, [old, young], "2h")
    ids = ids_by_rcpt(qdir, [old, young])
    now = int(time.time())
    set_env(qdir, ids[old], created=now - 2 * 3600 - 1,
            **{"next-try": now + 3 * 3600})
    set_env(qdir, ids[young], created=now - 2 * 3600 + 60,
            **{"next-try": now - 1})
    res = mailhop.run(["-C", down, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert entries(qdir, "msg") == [ids[young]]
    assert entries(qdir, "failed") == [ids[old]]
    by = {}
    for ln in servers.mailhop_syslog_lines(res.pid, 2, "msgid="):
        f = parse_log(ln)
        by[f["rcpt"]] = f
    assert by[old]["status"] == "expired", by
    assert by[young]["status"] == "deferred", by
    last = env_field(qdir, "failed", ids[old], "last-error")
    assert last.startswith("expired after 2 hours; last error: "), last
    listing = mailq(mailhop, down, env)
    assert "(account test, uid %d: expired after 2 hours; last error: " \
        % os.getuid() in listing, listing


def test_queue_lifetime_longer_than_five_days(servers, mailhop, rcpt,
                                              state):
    """queue_lifetime = 7d: a message queued six days ago, its next try
    an hour away, is not due and is not expired by -q (the default five
    days are not used); past seven days it expires."""
    env, qdir = state
    to = rcpt()
    down = queue_down_lifetime(servers, mailhop, env, [to], "7d")
    (qid,) = entries(qdir, "msg")
    now = int(time.time())
    set_env(qdir, qid, created=now - 6 * 86400, **{"next-try": now + 3600})
    res = mailhop.run(["-C", down, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert entries(qdir, "msg") == [qid] and entries(qdir, "failed") == []
    assert env_field(qdir, "msg", qid, "attempts") == "1"  # not tried
    set_env(qdir, qid, created=now - 7 * 86400 - 1)
    res = mailhop.run(["-C", down, "-q"], env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == [qid]
    check_log(servers, res, status="expired")
    last = env_field(qdir, "failed", qid, "last-error")
    assert last.startswith("expired after 7 days; last error: "), last


@pytest.mark.parametrize("value,words", [
    ("30m", "queue_lifetime: 30m is out of range (write 1h to 60d)"),
    ("61d", "queue_lifetime: 61d is out of range (write 1h to 60d)"),
    ("2w", 'queue_lifetime: "2w" is not a duration (write a number with '
           'm, h or d, such as 12h or 5d)'),
])
def test_queue_lifetime_checked(servers, mailhop, rcpt, state, value,
                                words):
    """A queue_lifetime out of range or in another unit stops the send
    with 78 and FILE:LINE: queue_lifetime: before it connects; nothing
    is queued."""
    env, qdir = state
    conf = servers.write_config(host="127.0.0.1", queue=True,
                                port=servers.ports["closed"],
                                extra={"queue_lifetime": value})
    with open(conf) as f:
        line = 1 + [ln.split("=")[0].strip() for ln in f].index(
            "queue_lifetime")
    res = mailhop.send(conf, [rcpt()], MESSAGE, env=env)
    check_error_line(res, 78, "%s:%d: %s" % (conf, line, words))
    assert entries(qdir, "msg") == [] and entries(qdir, "failed") == []
