# SPDX-License-Identifier: ISC
"""The cases of ../shared/cases/field-bugs.md that had no test yet, each
named after its case id (B05 ... B41), replayed with the case's command
and input through the real Postfix of the harness, or through the fault
server (tests/faultserver.py) where the case says FAULT or needs a
server that misbehaves on demand.

The case file's baseline account maps onto the harness account that
write_config makes: sender@example.com is alice@example.org (the
account's from), the case's alice@example.org, bob@... are fresh
mailboxes from the rcpt fixture, timeouts are 1 to 2 s instead of 5 to
10 s.  Exit codes are DESIGN.md's; configs come from write_config, which
also sets how temporary failures end (queue off: exit 75).

Cases that need what mailhop does not have yet are written as the case
says and marked xfail(strict=True), so that they turn into failures the
day the feature lands and the mark must go.  The From policy (B19, B22)
applies to every account: with allow_from (policy_conf) its patterns,
without it the account's from alone (SENDER; test_from_policy.py).
"""

import base64
import os
import pwd
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

import harness
from conftest import MAILHOP
from conftest_fault import *  # noqa: F401,F403
from faultserver import ReadSome, Reset, Scenario, Stall
from mailmodel import check_error_line, parse_log

SENDER = "alice@example.org"    # the case file's sender@example.com
ALERTS = "alerts@example.org"   # its second allowed From address
PW = "fault-Pa55word"           # the password of fault server accounts


def msg(to, subject="test", body=b"test body\n", frm=SENDER, extra=b""):
    """The case file's default message, To: to."""
    return (b"From: " + frm.encode() + b"\nTo: " + to.encode()
            + b"\nSubject: " + subject.encode() + b"\n" + extra + b"\n"
            + body)


# ------------------------------------------------------------ Postfix


class Mark:
    """What Postfix's smtpd logged from now on."""

    def __init__(self, servers):
        self.servers = servers
        self.offset = len(servers.read_text(servers.maillog))

    def text(self):
        return self.servers.read_text(self.servers.maillog)[self.offset:]

    def connects(self):
        return re.findall(r"\bconnect from \S+", self.text())

    def counts(self, timeout=10):
        """The command counts of the first session since the mark, from
        its smtpd's "disconnect from" line: {"ehlo": "2", "auth": "0/1",
        ...} ("ok/total" when some failed).  The session is found by its
        "connect from" line, so that a late line of an earlier session
        does not count."""
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            c = re.search(r"smtpd\[(\d+)\]: connect from ", text)
            d = c and re.search(r"smtpd\[%s\]: disconnect from \S+ (.*)"
                                % c.group(1), text[c.end():])
            if d:
                return dict(kv.split("=", 1) for kv in d.group(1).split())
            if time.monotonic() > end:
                pytest.fail("no smtpd session ended:\n" + text)
            time.sleep(0.05)


def run(servers, mailhop, args, data, conf=None, **kw):
    """mailhop -C CONF ARGS... (args as the case writes them, no "--")."""
    conf = conf or servers.write_config()
    return mailhop.run(["-C", conf] + list(args), data, **kw)


def arrived(servers, to, count=1):
    servers.wait_for_delivery(to, count)
    servers.wait_queue_empty()
    got = servers.maildir_messages(to)
    assert len(got) == count, (to, got)
    return got


def trace_of(raw):
    return harness.split_trace(raw)[0]


def assert_refused_before_connecting(servers, mark, *rcpts):
    servers.assert_nothing_delivered(*rcpts)
    assert not mark.connects(), mark.text()


# ------------------------------------------------------------ FAULT


def fault_ok(**kw):
    """The case file's FAULT-OK script (no TLS unless kw says so)."""
    kw.setdefault("greeting", "220 mx.example.net ESMTP")
    kw.setdefault("name", "mx.example.net")
    kw.setdefault("tls", "none")
    kw.setdefault("ehlo", ["PIPELINING", "8BITMIME", "SIZE 10485760",
                           "ENHANCEDSTATUSCODES"])
    replies = {"DOT": "250 2.0.0 queued"}
    replies.update(kw.pop("replies", {}))
    return Scenario(replies=replies, **kw)


def sc(**kw):
    """A Scenario that knows the account's password (for SCRAM too)."""
    kw.setdefault("user", "alice")
    kw.setdefault("password", PW)
    return Scenario(**kw)


def fault_run(mailhop, fault_conf, srv, args, data, connections=1, **conf):
    conf.setdefault("password", PW)
    res = mailhop.run(["-C", fault_conf(srv, **conf)] + list(args), data)
    assert srv.wait_idle(5, connections=connections), srv.sessions
    return res


def only(srv):
    assert srv.connections == 1, srv.sessions
    s = srv.sessions[0]
    assert s.error is None, s
    return s


def rcpt_lines(s):
    return [c[1] for c in s.commands if c[1].upper().startswith(b"RCPT")]


# ================================================================ B05


def test_B05_case_A_name_addr_in_to(servers, mailhop, rcpt):
    """mailhop -t -i, To: Ivy Example <ivy@...>: RCPT carries the bare
    address (Postfix records the RCPT address as X-Original-To)."""
    ivy = rcpt("ivy")
    mark = Mark(servers)
    res = run(servers, mailhop, ["-t", "-i"],
              msg("Ivy Example <%s>" % ivy, "name-addr", b"x\n"))
    assert res.rc == 0 and res.stderr == "", res
    raw, = arrived(servers, ivy)
    assert trace_of(raw)["x-original-to"] == ivy
    assert mark.counts()["rcpt"] == "1"


def test_B05_case_B_name_addr_on_argv(servers, mailhop, rcpt):
    """mailhop(1): a recipient argument may have a display name."""
    ivy = rcpt("ivy")
    mark = Mark(servers)
    res = run(servers, mailhop, ["-i", "Ivy Example <%s>" % ivy],
              msg("someone-else@example.org"))
    assert res.rc == 0 and res.stderr == "", res
    raw, = arrived(servers, ivy)
    assert trace_of(raw)["x-original-to"] == ivy
    assert mark.counts()["rcpt"] == "1"


def test_B05_no_recipient_left_is_64_without_connecting(servers, mailhop,
                                                        rcpt):
    """Parsing that leaves no recipient: 64 before connecting, so DATA is
    never sent without an accepted RCPT."""
    mark = Mark(servers)
    res = run(servers, mailhop, ["-t", "-i"],
              msg("Ivy Example:;", "name-addr", b"x\n"))
    check_error_line(res, 64, "no recipient")
    assert_refused_before_connecting(servers, mark)


# ================================================================ B06


def test_B06_comma_lists_on_argv_one_rcpt_each(mailhop, fault, fault_conf):
    srv = fault(fault_ok())
    res = fault_run(mailhop, fault_conf, srv,
                    ["alice@example.org,bob@example.org",
                     " carol@example.org , dave@example.org"],
                    msg("alice@example.org"))
    assert res.rc == 0 and res.stderr == "", res
    s = only(srv)
    assert rcpt_lines(s) == [b"RCPT TO:<%s@example.org>" % n for n in
                             (b"alice", b"bob", b"carol", b"dave")], s
    assert len(s.messages) == 1


# ================================================================ B07


def test_B07_argv_and_header_recipients_united(servers, mailhop, rcpt):
    """mailhop -t alice: the union of argv and header recipients, each
    once; the domain's case does not make a second recipient."""
    alice, bob = rcpt("alice"), rcpt("bob")
    local, _, domain = alice.partition("@")
    data = (b"From: %s\nTo: %s, %s\nCc: Alice <%s@%s>\n"
            b"Subject: argv and headers\n\nx\n"
            % (SENDER.encode(), alice.encode(), bob.encode(),
               local.encode(), domain.upper().encode()))
    mark = Mark(servers)
    res = run(servers, mailhop, ["-t", alice], data)
    assert res.rc == 0 and res.stderr == "", res
    arrived(servers, alice)
    arrived(servers, bob)
    assert mark.counts()["rcpt"] == "2"


# ================================================================ B19

def policy_conf(servers):
    return servers.write_config(
        extra={"allow_from": '{"%s", "%s"}' % (SENDER, ALERTS)})


def test_B19_case_A_envelope_sender_not_allowed(servers, mailhop, rcpt):
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, ["-f", "intruder@example.net", alice],
              msg(alice), conf=policy_conf(servers))
    check_error_line(res, 77, "intruder@example.net", SENDER, ALERTS)
    log = servers.mailhop_syslog(res.pid)
    assert "intruder@example.net" in log and "status=refused" in log, log
    assert_refused_before_connecting(servers, mark, alice)


def test_B19_case_B_from_header_not_allowed(servers, mailhop, rcpt):
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, [alice],
              msg(alice, frm="Boss <ceo@example.net>"),
              conf=policy_conf(servers))
    check_error_line(res, 77, "ceo@example.net")
    assert_refused_before_connecting(servers, mark, alice)


def test_B19_case_C_sender_header_not_allowed(servers, mailhop, rcpt):
    """DESIGN.md: Sender must match as well (checked, not rewritten)."""
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, [alice],
              msg(alice, extra=b"Sender: other@example.net\n"),
              conf=policy_conf(servers))
    check_error_line(res, 77, "other@example.net")
    assert_refused_before_connecting(servers, mark, alice)


@pytest.mark.parametrize("extra,frm", [
    (b"", "Boss <ceo@example.net"),
    (b"Sender: Boss <ceo@example.net\n", None)])
def test_B19_unparsable_from_or_sender_refused(servers, mailhop, rcpt,
                                               extra, frm):
    """A From or Sender the policy cannot read is refused, not waved
    through: a server or reader may still make an address of it."""
    alice = rcpt("alice")
    mark = Mark(servers)
    kw = {"frm": frm} if frm else {}
    res = run(servers, mailhop, [alice], msg(alice, extra=extra, **kw),
              conf=policy_conf(servers))
    check_error_line(res, 77, "cannot be parsed")
    assert_refused_before_connecting(servers, mark, alice)


@pytest.mark.parametrize("field", ["Resent-From", "Resent-Sender"])
def test_B4_resent_fields_not_allowed(servers, mailhop, rcpt, field):
    """mailhop -t on a resent message: the newest Resent block's
    Resent-From and Resent-Sender are checked like From and Sender, and
    the error names the field."""
    alice = rcpt("alice")
    mark = Mark(servers)
    data = ("%s: eve@example.net\nResent-To: %s\nFrom: %s\n"
            "Subject: resent\n\nx\n" % (field, alice, SENDER)).encode()
    res = run(servers, mailhop, ["-t"], data, conf=policy_conf(servers))
    line = check_error_line(res, 77, "%s address eve@example.net is not "
                            "allowed for account test" % field)
    assert line.startswith("mailhop: %s address" % field), line
    assert_refused_before_connecting(servers, mark, alice)


def test_B4_resent_from_allowed_and_older_block_not_checked(servers,
                                                            mailhop, rcpt):
    """An allowed Resent-From passes; an older block's Resent-From (past
    a Received line) is someone else's resend and is not checked."""
    alice = rcpt("alice")
    data = ("Resent-From: %s\nResent-To: %s\n"
            "Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\n"
            "Resent-From: eve@example.net\nFrom: %s\n"
            "Subject: resent\n\nx\n" % (ALERTS, alice, SENDER)).encode()
    res = run(servers, mailhop, ["-t"], data, conf=policy_conf(servers))
    assert res.rc == 0 and res.stderr == "", res
    arrived(servers, alice)


def test_B4_unparsable_resent_from_named(servers, mailhop, rcpt):
    alice = rcpt("alice")
    mark = Mark(servers)
    data = ("Resent-From: Eve <eve@example.net\nResent-To: %s\nFrom: %s\n"
            "Subject: resent\n\nx\n" % (alice, SENDER)).encode()
    res = run(servers, mailhop, ["-t"], data, conf=policy_conf(servers))
    check_error_line(res, 77, "the Resent-From field cannot be parsed, so "
                     "allow_from of account test cannot be checked")
    assert_refused_before_connecting(servers, mark, alice)


def test_B19_case_D_allowed_sender_unchanged(servers, mailhop, rcpt):
    alice = rcpt("alice")
    res = run(servers, mailhop, ["-f", ALERTS, alice], msg(alice),
              conf=policy_conf(servers))
    assert res.rc == 0 and res.stderr == "", res
    raw, = arrived(servers, alice)
    assert trace_of(raw)["return-path"] == "<%s>" % ALERTS


# ================================================================ B22


def test_B22_crlf_in_sender(servers, mailhop, rcpt):
    alice, victim = rcpt("alice"), rcpt("victim")
    mark = Mark(servers)
    res = run(servers, mailhop,
              ["-f", "%s\r\nRCPT TO:<%s>" % (SENDER, victim), alice],
              msg(alice))
    check_error_line(res, 64, "line break")
    assert_refused_before_connecting(servers, mark, alice, victim)


def test_B22_newline_in_full_name(servers, mailhop, rcpt):
    """mailhop(1): a line break in a name is refused with 64."""
    alice, victim = rcpt("alice"), rcpt("victim")
    mark = Mark(servers)
    res = run(servers, mailhop,
              ["-F", "Eve\nBcc: %s" % victim, "-f", SENDER, alice],
              b"Subject: no from\n\nx\n")
    check_error_line(res, 64, "line break")
    assert_refused_before_connecting(servers, mark, alice, victim)


QUOTED_SENDER = '"x\\" -oQ/tmp -X/tmp/log"@example.com'


def log_state():
    """/tmp/log as the case names it: (exists, size, mtime)."""
    try:
        st = os.lstat("/tmp/log")
        return True, st.st_size, st.st_mtime_ns
    except FileNotFoundError:
        return False, None, None


def test_B22_quoted_sender_is_one_address(servers, mailhop, rcpt):
    """The -f value with option-looking words in a quoted local part is
    one address: the envelope sender is all of it, and no option in it
    takes effect (/tmp/log is not made or written).  With allow_from =
    "*" mailhop sends it; the refusal by a list is the test below."""
    alice = rcpt("alice")
    before = log_state()
    res = run(servers, mailhop, ["-f", QUOTED_SENDER, alice], msg(alice),
              conf=servers.write_config(allow_from="*"))
    assert res.rc == 0 and res.stderr == "", res
    raw, = arrived(servers, alice)
    assert trace_of(raw)["return-path"] == "<%s>" % QUOTED_SENDER
    assert log_state() == before


def test_B22_quoted_sender_refused_by_from_policy(servers, mailhop, rcpt):
    alice = rcpt("alice")
    before = log_state()
    mark = Mark(servers)
    res = run(servers, mailhop, ["-f", QUOTED_SENDER, alice], msg(alice),
              conf=policy_conf(servers))
    check_error_line(res, 77)
    assert_refused_before_connecting(servers, mark, alice)
    assert log_state() == before


def test_B22_dash_recipient_after_double_dash(mailhop, fault, fault_conf):
    """FAULT-OK: Postfix itself refuses an address that starts with "-"
    (allow_min_user = no), so the wire is read at the fault server."""
    srv = fault(fault_ok())
    res = fault_run(mailhop, fault_conf, srv, ["--", "-dash@example.org"],
                    msg("-dash@example.org"))
    assert res.rc == 0 and res.stderr == "", res
    s = only(srv)
    assert rcpt_lines(s) == [b"RCPT TO:<-dash@example.org>"], s
    assert s.messages


def test_B22_dash_recipient_without_double_dash(servers, mailhop, rcpt):
    dash = rcpt("-dash")
    mark = Mark(servers)
    res = run(servers, mailhop, [dash], msg(dash))
    check_error_line(res, 64, "unknown option -d")
    assert_refused_before_connecting(servers, mark, dash)


# ================================================================ B26


def test_B26_cronie_flags(servers, mailhop, rcpt, tmp_path):
    """cronie's command line; root goes through the aliases file."""
    admin = rcpt("admin")
    aliases = tmp_path / "aliases"
    aliases.write_text("root: %s\n" % admin)
    conf = servers.write_config(
        extra={"aliases": harness.conf_quote(str(aliases))})
    res = run(servers, mailhop, ["-FCronDaemon", "-i", "-B8BITMIME", "-oem",
                                 "-odi", "root"],
              msg("root"), conf=conf)
    assert res.rc == 0 and res.stderr == "", res
    raw, = arrived(servers, admin)
    assert trace_of(raw)["x-original-to"] == admin


@pytest.mark.parametrize("flags", [["-bm", "-oi", "-t"], ["-U", "-t"],
                                   ["-v", "-t"],
                                   ["-oXfoo", "-ODeliveryMode=b", "-t"]],
                         ids=["bm-oi", "U", "v", "unknown-o-O"])
def test_B26_flags_accepted(servers, mailhop, rcpt, flags):
    """Also: unknown -oX and -OName=value are ignored."""
    alice = rcpt("alice")
    res = run(servers, mailhop, flags, msg(alice))
    assert res.rc == 0, res
    if "-v" not in flags:
        assert res.stderr == "", res
    arrived(servers, alice)


def test_B26_bs_speaks_smtp(servers, mailhop):
    """-bs speaks SMTP on stdin and stdout (mailhop(1)), it does not wait
    silently."""
    t = time.monotonic()
    res = run(servers, mailhop, ["-bs"],
              b"EHLO client.example.org\r\nQUIT\r\n", timeout=10)
    assert time.monotonic() - t < 5
    assert res.rc == 0, res
    out = res.stdout.decode()
    assert re.match(r"220 .*\r\n250[- ]", out), out
    assert out.endswith("\r\n") and "\r\n221 " in out, out


@pytest.mark.parametrize("how", ["-bp", "mailq", "-q"])
def test_B26_queue_modes_are_fast(servers, mailhop, tmp_path, how):
    conf = servers.write_config()
    if how == "mailq":
        link = tmp_path / "mailq"
        link.symlink_to(mailhop.path)
        binary, args = str(link), ["-C", conf]
    else:
        binary, args = None, ["-C", conf, how]
    # a queue of its own: other tests' queued messages are not ours
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    t = time.monotonic()
    res = mailhop.run(args, b"", binary=binary, timeout=10, env=env)
    assert time.monotonic() - t < 5
    assert res.rc == 0 and res.stderr == "", res
    if how != "-q":
        assert res.stdout, res


def test_B26_unknown_letter_is_64(servers, mailhop, rcpt):
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, ["-j", alice], msg(alice))
    check_error_line(res, 64, "unknown option -j")
    assert_refused_before_connecting(servers, mark, alice)


# ================================================================ B28


def test_B28_mechanism_from_the_offered_list(mailhop, fault, fault_conf):
    """The case's Dovecot offers PLAIN and LOGIN only: PLAIN is picked,
    one AUTH, then the mail."""
    srv = fault(sc(ehlo_tls=["PIPELINING", "AUTH PLAIN LOGIN"]))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    assert res.rc == 0, res
    s = only(srv)
    assert [m for m, _ in s.auth] == ["PLAIN"] and s.auth_ok
    assert s.verbs("tls").count("AUTH") == 1 and s.messages


def test_B28_postfix_mechanism_is_one_it_offers(servers, mailhop, rcpt):
    alice = rcpt("alice")
    with smtplib.SMTP("127.0.0.1", servers.ports["submission"]) as c:
        c.starttls(context=servers.tls_context())
        c.ehlo()
        offered = c.esmtp_features["auth"].upper().split()
    res = run(servers, mailhop, [alice], msg(alice))
    assert res.rc == 0, res
    raw, = arrived(servers, alice)
    mech, user = servers.smtpd_sasl_method(raw)
    assert mech in offered and user == "alice", (mech, offered)


def test_B28_wrong_password(servers, mailhop, rcpt):
    """535: exit 77, one AUTH (no second try with another of the four
    mechanisms Postfix offers), no MAIL, QUIT."""
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, [alice], msg(alice),
              conf=servers.write_config(password="wrong-B28"))
    check_error_line(res, 77, "authentication failed", "535 5.7.8")
    counts = mark.counts()
    assert counts.get("auth") == "0/1", counts
    assert "mail" not in counts and counts.get("quit") == "1", counts
    servers.assert_nothing_delivered(alice)


def test_B28_no_auth_offered(mailhop, fault, fault_conf):
    srv = fault(sc(ehlo_tls=["PIPELINING", "8BITMIME"]))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    check_error_line(res, 69, "offers no AUTH")
    s = only(srv)
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(s.verbs()), s


def test_B28_configured_mechanism_not_offered(mailhop, fault, fault_conf):
    srv = fault(sc(ehlo_tls=["PIPELINING", "AUTH PLAIN LOGIN"]))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"), auth="scram-sha-256")
    check_error_line(res, 69, "SCRAM-SHA-256", "PLAIN LOGIN")
    s = only(srv)
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(s.verbs()), s


# ================================================================ B29


def test_B29_case_A_ehlo_again_after_starttls(servers, mailhop, rcpt):
    """Postfix's submission listener has smtpd_tls_auth_only = yes: AUTH
    is only in the EHLO reply inside TLS, and mailhop uses it."""
    alice = rcpt("alice")
    mark = Mark(servers)
    res = run(servers, mailhop, [alice], msg(alice))
    assert res.rc == 0 and res.stderr == "", res
    arrived(servers, alice)
    c = mark.counts()
    assert (c["ehlo"], c["starttls"], c["auth"], c["mail"]) == \
        ("2", "1", "1", "1"), c


def test_B29_case_B_auth_without_tls(servers, mailhop, rcpt):
    """Account with tls = off and a login, against the same listener.
    mailhop refuses this account before connecting (exit 78, a
    configuration error: mailhop.conf(5) sends no password without TLS),
    and the message names the key to change, not "does not support
    authentication"."""
    alice = rcpt("alice")
    mark = Mark(servers)
    conf = servers.write_config(tls="off",
                                port=servers.ports["submission"])
    res = run(servers, mailhop, [alice], msg(alice), conf=conf)
    check_error_line(res, 78, "tls = starttls")
    assert "support" not in res.stderr
    assert_refused_before_connecting(servers, mark, alice)


# ================================================================ B30


@pytest.mark.parametrize("offer", [False, True], ids=["not-offered",
                                                      "offered"])
def test_B30_case_A_tls_off_sends_no_starttls(mailhop, fault, fault_conf,
                                              offer):
    """tls = off: no STARTTLS, also when the server offers it (and would
    refuse it, as in neomutt#3161)."""
    ehlo = ["PIPELINING", "8BITMIME"] + (["STARTTLS"] if offer else [])
    srv = fault(fault_ok(ehlo=ehlo,
                         replies={"STARTTLS": "502 5.5.1 not here"}))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    assert res.rc == 0, res
    s = only(srv)
    assert "STARTTLS" not in s.verbs() and s.messages


def test_B30_case_B_starttls_stripped(servers, mailhop, rcpt):
    """An account that requires STARTTLS, against a Postfix listener that
    does not offer it (the plain one, as a stripping MITM would leave
    it): 69, and the session is EHLO and QUIT only, so no password."""
    alice = rcpt("alice")
    mark = Mark(servers)
    conf = servers.write_config(port=servers.ports["plain"])
    res = run(servers, mailhop, [alice], msg(alice), conf=conf)
    check_error_line(res, 69, "did not offer STARTTLS")
    c = mark.counts()
    assert set(c) == {"ehlo", "quit", "commands"}, c
    servers.assert_nothing_delivered(alice)


def test_B30_case_C_starttls_454(mailhop, fault, fault_conf):
    srv = fault(sc(starttls="454 4.7.0 TLS not available"))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    check_error_line(res, 75, "454")
    s = only(srv)
    assert s.verbs()[:2] == ["EHLO", "STARTTLS"], s
    assert set(s.verbs()[2:]) <= {"QUIT"} and not s.post, s
    assert PW.encode() not in bytes(s.pre)


# ================================================================ B31


def test_B31_starttls_response_injection(mailhop, fault, fault_conf):
    srv = fault(sc(
        starttls=b"220 2.0.0 Ready\r\n250-evil.example.net\r\n"
                 b"250 AUTH PLAIN\r\n",
        ehlo_tls=["PIPELINING", "8BITMIME"]))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    assert res.rc in (69, 76), res
    check_error_line(res, res.rc)
    s = only(srv)
    # nothing after STARTTLS in clear, before or after the 220
    assert bytes(s.pre).endswith(b"\r\nSTARTTLS\r\n"), s
    assert s.verbs("plain") == ["EHLO", "STARTTLS"], s
    assert not {"AUTH", "MAIL", "RCPT", "DATA"} & set(s.verbs()), s
    assert not s.auth
    if res.rc == 69:
        assert "offers no AUTH" in res.stderr
        assert s.verbs("tls")[:1] == ["EHLO"]


# ================================================================ B33


def test_B33_case_A_starttls_account_silent_server(mailhop, fault,
                                                    fault_conf):
    """A server that accepts and says nothing (as an implicit-TLS server
    waiting for a ClientHello): 75 at the timeout (1 s here), with the
    hint about port 465."""
    srv = fault(sc(greeting=Stall()))
    t = time.monotonic()
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"), timeout=1)
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "sent no greeting", "port 465",
                     "tls = implicit")
    assert 0.9 < elapsed < 3, elapsed
    assert not only(srv).commands


def test_B33_case_B_implicit_account_plain_server(mailhop, fault,
                                                  fault_conf):
    srv = fault(sc(tls="implicit", handshake=[
        b"220 mx.example.net ESMTP\r\n", ReadSome()]))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    check_error_line(res, 69, "plain text", "tls = starttls")
    s = only(srv)
    # a ClientHello at most (mailhop may see the 220 before sending it)
    assert s.raw[:1] in (b"", b"\x16") and PW.encode() not in s.raw, s
    assert not s.commands


# ================================================================ B34


def test_B34_a_correct_certificate(servers, mailhop, rcpt):
    alice = rcpt("alice")
    res = run(servers, mailhop, [alice], msg(alice))
    assert res.rc == 0, res
    arrived(servers, alice)


def test_B34_b_name_mismatch(servers, mailhop, rcpt):
    """The harness's wrongname listener: a valid chain, for names that
    are not the configured host."""
    alice = rcpt("alice")
    mark = Mark(servers)
    conf = servers.write_config(host=harness.WRONGNAME_ADDR,
                                port=servers.ports["wrongname"])
    res = run(servers, mailhop, [alice], msg(alice), conf=conf)
    check_error_line(res, 69, "not trusted", "does not match")
    c = mark.counts()
    assert not {"auth", "mail", "rcpt", "data"} & set(c), c
    servers.assert_nothing_delivered(alice)


def test_B34_c_self_signed(mailhop, fault, fault_conf, fault_pki):
    srv = fault(sc(cert=fault_pki.cert("self-signed")))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    check_error_line(res, 69, "not trusted")
    s = only(srv)
    assert s.tls_version is None and not s.post
    assert not {"AUTH", "MAIL"} & set(s.verbs())


def test_B34_c_self_signed_trusted_explicitly(mailhop, fault, fault_conf,
                                              fault_pki):
    """The account's tls_ca_file names the self-signed certificate."""
    cert = fault_pki.cert("self-signed")
    srv = fault(sc(cert=cert))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"), ca_file=cert[0])
    assert res.rc == 0, res
    assert only(srv).messages


@pytest.mark.parametrize("host,sni", [("localhost", "localhost"),
                                      ("127.0.0.1", None)])
def test_B34_sni(mailhop, fault, fault_conf, fault_pki, host, sni):
    srv = fault(sc(cert=fault_pki.cert("default" if sni else "ip-only")))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"), host=host)
    assert res.rc == 0, res
    s = only(srv)
    assert s.sni_seen and s.sni == sni


# ================================================================ B35


def test_B35_postfix_tls_version_logged(servers, mailhop, rcpt):
    alice = rcpt("alice")
    res = run(servers, mailhop, [alice], msg(alice))
    assert res.rc == 0, res
    fields = parse_log(servers.mailhop_syslog(res.pid))
    assert re.fullmatch(r"TLS1\.[23]", fields["tls"]), fields


def test_B35_transcript_shows_version_and_cipher(servers, mailhop, rcpt):
    alice = rcpt("alice")
    res = run(servers, mailhop, ["-v", alice], msg(alice))
    assert res.rc == 0, res
    tls = [ln for ln in res.stderr.splitlines() if "TLS1." in ln]
    assert tls and re.search(r"AES|CHACHA20", tls[0], re.I), res.stderr


@pytest.mark.parametrize("version,ok", [(ssl.TLSVersion.TLSv1_3, True),
                                        (ssl.TLSVersion.TLSv1, False)],
                         ids=["1.3-only", "1.0-only"])
def test_B35_fault_tls_versions(mailhop, fault, fault_conf, version, ok):
    """FAULT servers offering one TLS version only: 1.3 is taken, 1.0 is
    refused (mailhop has no setting that allows it)."""
    srv = fault(sc(tls_versions=(version, version),
                   ciphers="DEFAULT:@SECLEVEL=0"))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    s = only(srv)
    if ok:
        assert res.rc == 0, res
        assert s.tls_version == "TLSv1.3"
    else:
        check_error_line(res, 69, "protocol version", "1.2 or 1.3")
        assert s.tls_version is None and not s.post


# ================================================================ B37

def command_conf(fault_conf, srv, command):
    return fault_conf(srv, user=None, auth="on", extra={
        "user": '"alice"', "password_command": harness.conf_quote(command)})


@pytest.mark.parametrize("out", [r"secret\n", "secret", r"secret\r\n"],
                         ids=["LF", "none", "CRLF"])
def test_B37_trailing_newline_stripped(servers, mailhop, fault, fault_conf,
                                       out):
    srv = fault(sc(password="secret"))
    conf = command_conf(fault_conf, srv, "printf '%s'" % out)
    res = mailhop.run(["-C", conf, "-v", "bob@example.org"],
                      msg("bob@example.org"))
    assert res.rc == 0, res
    assert srv.wait_idle(5)
    s = only(srv)
    assert s.auth_ok and s.messages
    assert "secret" not in res.stderr
    assert "secret" not in servers.mailhop_syslog(res.pid)


def test_B37_long_output_stopped_at_the_cap(mailhop, fault, fault_conf,
                                            tmp_path):
    """64 KiB of output, then more work: stopped at the 16 KiB cap at once
    (B5), not read to the end or left to the timeout; the helper is
    killed with its process group (its marker is never written) and
    nothing is sent."""
    marker = tmp_path / "status"
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\nhead -c 65536 /dev/zero | tr '\\0' a\n"
                      "sleep 5; echo \"$?\" > %s\n" % marker)
    script.chmod(0o755)
    srv = fault(sc())
    conf = command_conf(fault_conf, srv, str(script))
    t = time.monotonic()
    res = mailhop.run(["-C", conf, "bob@example.org"],
                      msg("bob@example.org"))
    assert time.monotonic() - t < 3, res
    check_error_line(res, 78, "password command printed more than 16 KiB")
    assert srv.wait_idle(5, connections=0)
    time.sleep(5.5)
    assert not marker.exists()


@pytest.mark.parametrize("command,words", [
    ("echo oops >&2; exit 1", ("password command failed", "exit 1")),
    ("true", ("password command",)),
], ids=["exit-1", "empty"])
def test_B37_failing_command(mailhop, fault, fault_conf, command, words):
    srv = fault(sc())
    conf = command_conf(fault_conf, srv, command)
    res = mailhop.run(["-C", conf, "bob@example.org"],
                      msg("bob@example.org"))
    srv.wait_idle(5, connections=0)
    assert res.rc in (69, 78), res
    for w in words:
        assert w in res.stderr, (w, res.stderr)
    if "oops" in command:
        assert "oops" in res.stderr  # the command's stderr reaches us
    for s in srv.sessions:
        assert "AUTH" not in s.verbs(), s


# ================================================================ B38


def test_B38_case_A_user_without_password(mailhop, fault, fault_conf):
    """Exit 78 at config load, no connection; mailhop's words are "user
    is set but password is missing"."""
    srv = fault(sc())
    conf = fault_conf(srv, user=None, auth="on", extra={"user": '"alice"'})
    res = mailhop.run(["-C", conf, "bob@example.org"],
                      msg("bob@example.org"))
    check_error_line(res, 78, "user is set but password is missing")
    time.sleep(0.2)
    assert srv.connections == 0


def ehlo_lines_in_tls(servers):
    """Postfix's EHLO reply inside TLS on the submission port, as lines
    ("250-PIPELINING", ..., "250 CHUNKING")."""
    with socket.create_connection(("127.0.0.1",
                                   servers.ports["submission"]), 5) as raw:
        f = raw.makefile("rb")
        f.readline()
        raw.sendall(b"EHLO probe.example.org\r\n")
        while f.readline()[3:4] == b"-":
            pass
        raw.sendall(b"STARTTLS\r\n")
        f.readline()
        tls = servers.tls_context().wrap_socket(raw,
                                                server_hostname="localhost")
        g = tls.makefile("rb")
        tls.sendall(b"EHLO probe.example.org\r\n")
        lines = []
        while True:
            ln = g.readline().rstrip(b"\r\n").decode()
            lines.append(ln)
            if ln[3:4] != "-":
                break
        tls.sendall(b"QUIT\r\n")
        g.readline()
    return lines


@pytest.mark.parametrize("user,mech", [("alice", "login"), ("bob", "plain")])
def test_B38_case_B_no_credentials_in_logs(servers, mailhop, rcpt, user,
                                           mech):
    to = rcpt("to")
    password = servers.users[user].encode()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    secrets = [password.decode(), b64(password), b64(user.encode()),
               b64(b"\0" + user.encode() + b"\0" + password),
               b64(user.encode() + b"\0" + user.encode() + b"\0" + password)]
    conf = servers.write_config(user=user, auth=mech, from_addr=SENDER)
    res = run(servers, mailhop, ["-v", to], msg(to), conf=conf)
    assert res.rc == 0, res
    arrived(servers, to)
    log = servers.mailhop_syslog(res.pid)
    for s in secrets:
        assert s not in res.stderr, (s, res.stderr)
        assert s not in log, (s, log)
        assert s not in servers.read_text(servers.syslog_file)
    # the AUTH exchange reads "AUTH PLAIN <redacted, N bytes>", or "AUTH
    # LOGIN" and then only "<redacted, N bytes>" both ways until the 235
    lines = res.stderr.splitlines()
    start = next(i for i, ln in enumerate(lines)
                 if ln.startswith("--> AUTH "))
    end = next(i for i in range(start, len(lines))
               if lines[i].startswith("<-- 235 "))
    assert re.fullmatch(r"--> AUTH PLAIN <redacted, \d+ bytes>"
                        if mech == "plain" else "--> AUTH LOGIN",
                        lines[start]), lines[start]
    for ln in lines[start + 1:end]:
        assert re.fullmatch(r"(--> |<-- 334 )<redacted, \d+ bytes>", ln), ln
    # multi-line replies whole: every line of the EHLO reply inside TLS
    for ln in ehlo_lines_in_tls(servers)[1:]:
        assert ln in res.stderr, (ln, res.stderr)


# ================================================================ B39


def user_config(servers, tmp_path, mode, **kw):
    """A config in the user's place ($XDG_CONFIG_HOME/mailhop/config)
    with the given mode; returns the env that finds it."""
    xdg = tmp_path / "xdg"
    (xdg / "mailhop").mkdir(parents=True)
    dst = xdg / "mailhop" / "config"
    shutil.copyfile(servers.write_config(**kw), str(dst))
    os.chmod(str(dst), mode)
    return {"XDG_CONFIG_HOME": str(xdg)}, str(dst)


def test_B39_inline_password_mode_0644(servers, mailhop, rcpt, tmp_path):
    alice = rcpt("alice")
    env, path = user_config(servers, tmp_path, 0o644)
    mark = Mark(servers)
    res = mailhop.run([alice], msg(alice), env=env)
    check_error_line(res, 78, path, "chmod 600")
    assert_refused_before_connecting(servers, mark, alice)


def test_B39_inline_password_mode_0600(servers, mailhop, rcpt, tmp_path):
    alice = rcpt("alice")
    env, _ = user_config(servers, tmp_path, 0o600)
    res = mailhop.run([alice], msg(alice), env=env)
    assert res.rc == 0 and res.stderr == "", res
    arrived(servers, alice)


def test_B39_password_command_any_mode(servers, mailhop, rcpt, tmp_path):
    alice = rcpt("alice")
    env, path = user_config(
        servers, tmp_path, 0o644, user=None, auth="on",
        extra={"user": '"alice"', "password_command": harness.conf_quote(
            "printf '%s'" % servers.users["alice"])})
    res = mailhop.run([alice], msg(alice), env=env)
    assert res.rc == 0 and res.stderr == "", res
    arrived(servers, alice)


@pytest.mark.parametrize("how", ["mode 0666", "mode 0620", "owner nobody"])
def test_password_command_in_a_file_others_may_change(
        servers, mailhop, rcpt, tmp_path, how):
    """Whoever may change the file chooses the command mailhop runs: a
    file writable by others or its group, or owned by another user, is
    refused (78, one line with the fix) before the command runs or the
    server is reached.  With the file made 0600 and the caller's it is
    sent (the command ran)."""
    alice = rcpt("alice")
    ran = tmp_path / "ran"
    env, path = user_config(
        servers, tmp_path, 0o600, user=None, auth="on",
        extra={"user": '"alice"', "password_command": harness.conf_quote(
            "touch %s; printf '%%s' '%s'" % (ran, servers.users["alice"]))})
    if how == "owner nobody":
        os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)
    else:
        os.chmod(path, int(how.split()[1], 8))
    mark = Mark(servers)
    res = mailhop.run([alice], msg(alice), env=env)
    fix = {"mode 0666": "anyone may change it, and so the commands it runs "
                        "and where mail goes (run: chmod go-w %s)" % path,
           "mode 0620": "its group root may change it, and so the commands "
                        "it runs and where mail goes (run: chmod g-w %s)"
                        % path,
           "owner nobody": "owned by uid %d (nobody), who may change the "
                           "commands it runs and where mail goes (run: "
                           "chown root %s)"
                           % (pwd.getpwnam("nobody").pw_uid, path)}[how]
    assert (res.rc, res.stderr) == (78, "mailhop: %s: %s\n" % (path, fix))
    assert not ran.exists()
    assert_refused_before_connecting(servers, mark, alice)
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    res = mailhop.run([alice], msg(alice), env=env)
    assert res.rc == 0 and res.stderr == "", res
    assert ran.exists()
    arrived(servers, alice)


def test_B5_password_command_asks_on_the_terminal(servers, mailhop, rcpt):
    """The password command runs in a process group of its own (so that
    what it leaves behind can be killed), which gets the terminal while
    it runs: a command that reads /dev/tty is not stopped by SIGTTIN."""
    import fcntl
    import pty
    import select
    import termios
    alice = rcpt("alice")
    conf = servers.write_config(user=None, extra={
        "user": '"alice"', "password_command": harness.conf_quote(
            'printf "pw? " >/dev/tty; read -r pw </dev/tty; '
            'printf "%s\\n" "$pw"')})
    master, slave = pty.openpty()

    def ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    p = servers.popen([mailhop.path, "-C", conf, alice], stdin=slave,
                      stdout=slave, stderr=slave, preexec_fn=ctty,
                      env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                           "HOME": servers.path("home")})
    os.close(slave)
    # The message on stdin, then EOF; mailhop reads it all first.
    os.write(master, msg(alice) + b"\x04")
    out = b""
    end = time.monotonic() + 10
    while b"pw? " not in out and time.monotonic() < end:
        if select.select([master], [], [], 1)[0]:
            out += os.read(master, 4096)
    assert b"pw? " in out, out
    os.write(master, servers.users["alice"].encode() + b"\n")
    rc = p.wait(20)
    os.close(master)
    assert rc == 0, out
    arrived(servers, alice)


def test_B39_system_config_unreadable(servers, tmp_path):
    """/etc/mailhop.conf that the caller (nobody) cannot read: 78 and the
    reason, not "no configuration file".  The run sees a copy of /etc
    with such a file (in a mount namespace of its own); the machine's
    /etc is not touched."""
    etc = tmp_path / "etc"
    subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
    sysconf = etc / "mailhop.conf"
    shutil.copyfile(servers.write_config(), str(sysconf))
    os.chown(str(sysconf), 0, 0)
    os.chmod(str(sysconf), 0o600)
    os.chmod(str(tmp_path), 0o755)
    script = ('mount --bind "$0" /etc || exit 125; exec setpriv '
              '--reuid=nobody --regid=nogroup --clear-groups -- "$@"')
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
           "XDG_CONFIG_HOME": "/nonexistent/config", "LANG": "C.UTF-8"}
    r = subprocess.run(servers.command(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         script, str(etc), MAILHOP, "alice@example.org"], env),
        input=msg("alice@example.org"), capture_output=True, timeout=20,
        env=env)
    err = r.stderr.decode()
    assert r.returncode == 78, (r.returncode, err)
    assert err == "mailhop: cannot read /etc/mailhop.conf: Permission " \
        "denied (put an account in /nonexistent/config/mailhop/config, " \
        "see mailhop.conf(5))\n", err


# ================================================================ B41


BLACKHOLE_HOSTS = "".join("192.0.2.%d mx4.example.net\n" % i
                          for i in range(1, 5))


def test_B41_a_four_blackholed_addresses(servers, mailhop, tmp_path):
    """mx4.example.net has four addresses that drop every packet (a
    network namespace where 192.0.2.0/24 routes into lo): with timeout 1
    the whole connect takes one timeout, not four (DESIGN.md: every
    address is tried within one budget)."""
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + BLACKHOLE_HOSTS)
    wrapper = tmp_path / "mailhop"
    wrapper.write_text(
        "#!/bin/sh\nexec unshare --mount --net sh -c 'ip link set lo up && "
        "ip addr add 192.0.2.100/32 dev lo && "
        "ip route add 192.0.2.0/24 dev lo && "
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"' %s %s \"$@\"\n"
        % (harness.shlex.quote(str(hosts)),
           harness.shlex.quote(mailhop.path)))
    wrapper.chmod(0o755)
    conf = servers.write_config(host="mx4.example.net", port=25, tls="off",
                                auth="off", user=None, ca_file=None,
                                timeout=1)
    t = time.monotonic()
    res = mailhop.run(["-C", conf, "bob@example.org"],
                      msg("bob@example.org"), binary=str(wrapper))
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "mx4.example.net")
    assert 0.9 < elapsed < 2.5, (elapsed, res)


def test_B41_b_no_greeting(servers, mailhop):
    """The harness's silent port: accepted, never a word."""
    conf = servers.write_config(host="127.0.0.1", tls="off", auth="off",
                                user=None, ca_file=None, timeout=1,
                                port=servers.ports["silent"])
    t = time.monotonic()
    res = mailhop.run(["-C", conf, "bob@example.org"],
                      msg("bob@example.org"))
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "no greeting")
    assert 0.9 < elapsed < 3, elapsed


def test_B41_c_greeting_421(mailhop, fault, fault_conf):
    srv = fault(fault_ok(greeting="421 4.3.2 Service not available"))
    t = time.monotonic()
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"), timeout=5)
    check_error_line(res, 75, "421 4.3.2 Service not available")
    assert time.monotonic() - t < 2
    assert set(only(srv).verbs()) <= {"QUIT"}


def test_B41_d_multiline_greeting(mailhop, fault, fault_conf):
    srv = fault(fault_ok(greeting="220-mx.example.net ESMTP\n"
                         "220-no UCE\n220 ready"))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    assert res.rc == 0 and res.stderr == "", res
    assert only(srv).messages


def test_B41_e_reset_during_data(mailhop, fault, fault_conf):
    srv = fault(fault_ok(replies={"DATA": ["354 go ahead", ReadSome(),
                                           Reset()]}))
    body = (b"y" * 76 + b"\n") * 20000   # 1.5 MB: still sending at the RST
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org", body=body))
    check_error_line(res, 75)
    s = only(srv)
    assert "DATA" in s.verbs() and not s.messages


def test_B41_f_no_reply_to_final_dot(servers, mailhop, fault, fault_conf):
    """The reply to the final dot never comes: the server holds the
    connection, then drops it (after 2 s; mailhop gives that reply at
    least 10 minutes, mailhop.conf(5), so the drop is what ends it).
    75, and both stderr and syslog say delivery is uncertain."""
    srv = fault(fault_ok(replies={"DOT": Stall()}, session_timeout=2))
    res = fault_run(mailhop, fault_conf, srv, ["bob@example.org"],
                    msg("bob@example.org"))
    check_error_line(res, 75, "uncertain")
    assert only(srv).messages
    fields = parse_log(servers.mailhop_syslog(res.pid))
    assert "uncertain" in fields["reply"], fields
    assert fields["exit"] == "75" and fields["status"] != "sent", fields
