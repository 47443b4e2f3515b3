# SPDX-License-Identifier: ISC
"""mailhop fails truthfully: the exit code of DESIGN.md, one stderr line
that says why, the syslog line, and nothing delivered to anyone."""

import os
import re
import socket
import time

import pytest

import harness

from mailmodel import check_error_line, check_log

MESSAGE = b"From: alice@example.org\nSubject: must not arrive\n\nbody\n"


class MaillogMark:
    """The Postfix log lines written after this point."""

    def __init__(self, servers):
        self.servers = servers
        self.offset = len(servers.read_text(servers.maillog))

    def lines(self):
        return self.servers.read_text(
            self.servers.maillog)[self.offset:].splitlines()

    def sessions(self):
        """The "disconnect from" lines, with the commands each session
        sent (Postfix 3.x logs e.g. "ehlo=2 starttls=1 auth=0/1").  smtpd
        logs the disconnect after the client has gone, so a session whose
        connect is logged is waited for (up to 5 s)."""
        end = time.monotonic() + 5
        while True:
            lines = self.lines()
            done = [ln for ln in lines if "disconnect from" in ln]
            started = [ln for ln in lines if "]: connect from" in ln]
            if len(done) >= len(started) or time.monotonic() > end:
                return done
            time.sleep(0.05)


def refused_before_auth(servers, mailhop, conf, to):
    """Send to `to` with conf: exit 69, nothing delivered, and Postfix saw
    no AUTH, MAIL, RCPT, DATA or BDAT in any session."""
    mark = MaillogMark(servers)
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 69)
    servers.assert_nothing_delivered(to)
    check_log(servers, res, status="refused", exit=69, auth="none")
    sessions = mark.sessions()
    assert sessions, mark.lines()
    for s in sessions:
        assert not re.search(r"\b(auth|mail|rcpt|data|bdat)=", s), s


@pytest.mark.parametrize("user,auth", [("alice", "plain"),
                                       ("alice", "scram-sha-256"),
                                       ("bob", "scram-sha-256"),
                                       ("bob", "login")])
def test_wrong_password(servers, mailhop, rcpt, user, auth):
    to = rcpt()
    conf = servers.write_config(user=user, password="wrong " + user,
                                auth=auth, from_addr="alice@example.org")
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 77)
    servers.assert_nothing_delivered(to)
    check_log(servers, res, status="refused", exit=77, tls="TLS1.3",
              rcpt=to)


def test_connection_refused_is_temporary(servers, mailhop, rcpt):
    to = rcpt()
    conf = servers.write_config(host="127.0.0.1",
                                port=servers.ports["closed"], timeout=5)
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 75, "not sent")
    servers.assert_nothing_delivered(to)
    check_log(servers, res, status="deferred", exit=75, tls="none",
              auth="none", host="127.0.0.1")


def test_unknown_host(servers, mailhop, rcpt):
    host = "nonexistent.invalid"
    try:
        socket.getaddrinfo(host, 25)
        pytest.fail("%s resolves" % host)
    except socket.gaierror as e:
        if e.errno != socket.EAI_NONAME:
            pytest.skip("the resolver cannot say that %s does not exist "
                        "(%s): the answer would be a temporary failure"
                        % (host, e))
    to = rcpt()
    conf = servers.write_config(host=host, timeout=5)
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 68, host)
    servers.assert_nothing_delivered(to)
    check_log(servers, res, status="refused", exit=68, host=host)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest.mark.parametrize("ca", ["other-ca", "system-store"])
def test_untrusted_certificate(servers, mailhop, rcpt, tls, ca):
    """A certificate the configured trust does not vouch for: 69, and
    neither the password nor the message went to the server."""
    to = rcpt()
    conf = servers.write_config(
        tls=tls, auth="plain",
        ca_file=servers.other_ca_file if ca == "other-ca" else None)
    refused_before_auth(servers, mailhop, conf, to)


def test_starttls_not_offered(servers, mailhop, rcpt):
    """tls = starttls against a server without STARTTLS: no fallback to
    plain text; 69 and nothing sent."""
    to = rcpt()
    conf = servers.write_config(tls="starttls", port=servers.ports["plain"],
                                auth="plain")
    mark = MaillogMark(servers)
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 69)
    servers.assert_nothing_delivered(to)
    for s in mark.sessions():
        assert not re.search(r"\b(auth|mail|rcpt|data|bdat)=", s), s


def test_rejected_recipient_stops_everything(servers, mailhop, rcpt):
    good1, good2 = rcpt("good1"), rcpt("good2")
    conf = servers.write_config()
    res = mailhop.send(conf, [good1, "reject@example.org", good2], MESSAGE)
    check_error_line(res, 67, "reject@example.org")
    assert good1 not in res.stderr and good2 not in res.stderr
    servers.assert_nothing_delivered(good1, good2)
    check_log(servers, res, status="refused", exit=67)


def test_only_recipient_rejected(servers, mailhop):
    conf = servers.write_config(tls="off", auth="off", user=None,
                                from_addr="alice@example.org")
    res = mailhop.send(conf, ["reject@example.org"], MESSAGE)
    check_error_line(res, 67, "reject@example.org")
    servers.wait_queue_empty()
    check_log(servers, res, status="refused", exit=67, tls="none")


def test_temporarily_failing_recipient(servers, mailhop, rcpt):
    good = rcpt()
    conf = servers.write_config()
    res = mailhop.send(conf, [good, "tempfail@example.org"], MESSAGE)
    check_error_line(res, 75, "tempfail@example.org", "not sent")
    servers.assert_nothing_delivered(good)
    check_log(servers, res, status="deferred", exit=75)


def test_config_with_password_readable_by_others(servers, mailhop, rcpt):
    to = rcpt()
    conf = servers.write_config(mode=0o644)
    res = mailhop.send(conf, [to], MESSAGE)
    check_error_line(res, 78, os.path.basename(conf))
    servers.assert_nothing_delivered(to)


def test_unknown_account(servers, mailhop, rcpt):
    to = rcpt()
    conf = servers.write_config()
    res = mailhop.run(["-C", conf, "-a", "nosuchaccount", to], MESSAGE)
    check_error_line(res, 78, "nosuchaccount")
    servers.assert_nothing_delivered(to)


def test_no_recipients(servers, mailhop):
    res = mailhop.run(["-C", servers.write_config()], MESSAGE)
    check_error_line(res, 64)


@pytest.mark.parametrize("arg,what", [
    ("bad address@@x", 'unexpected "address" in "bad address@@x"'),
    ("a@@x.example", 'missing domain after "@"'),
    ("<a@x.example", 'unbalanced "<"'),
])
def test_bad_recipient_argument(servers, mailhop, rcpt, arg, what):
    """64 before connecting: which argument, what is wrong, how to write
    one; the good recipient beside it gets nothing."""
    to = rcpt()
    mark = MaillogMark(servers)
    res = mailhop.run(["-C", servers.write_config(), to, arg], MESSAGE)
    line = check_error_line(res, 64, "recipient argument: " + what,
                            "(give each recipient as user@example.com")
    assert not mark.sessions(), (line, mark.lines())
    servers.assert_nothing_delivered(to)


@pytest.mark.parametrize("arg,what", [
    ("bad@@x.example", 'missing domain after "@"'),
    ("a@x.example, b@x.example", "not one address"),
])
def test_bad_sender_argument(servers, mailhop, rcpt, arg, what):
    """-f that does not parse as one address: 64 before connecting, even
    with allow_from = "*" (it went out as MAIL FROM:<"bad@"@x.example>
    and the From field bad@@x.example)."""
    to = rcpt()
    mark = MaillogMark(servers)
    res = mailhop.run(["-C", servers.write_config(allow_from="*"), "-f",
                       arg, to], MESSAGE)
    check_error_line(res, 64, "-f: " + what,
                     "(give the sender as one address, user@example.com)")
    assert not mark.sessions(), mark.lines()
    servers.assert_nothing_delivered(to)


@pytest.mark.parametrize("data,words", [
    (b"Subject: nul\n\nbody\0byte\n", ("NUL", "line 3")),
    (b"Content-Transfer-Encoding: base64\n\nshort\n" + b"x" * 999
     + b"\nend\n", ("line 4",)),
    (b"Subject: long-header-" + b"y" * 990 + b"\n\nbody\n", ("line 1",)),
], ids=["nul", "long-body-line", "long-header-line"])
def test_malformed_message(servers, mailhop, rcpt, data, words):
    """Refused before anything is sent: 65, the line named."""
    to = rcpt()
    mark = MaillogMark(servers)
    res = mailhop.send(servers.write_config(), [to], data)
    check_error_line(res, 65, *words)
    servers.assert_nothing_delivered(to)
    assert not mark.sessions(), mark.lines()


def test_longest_allowed_line_is_sent(servers, mailhop, rcpt):
    """998 octets plus CRLF is the limit, not a refusal."""
    to = rcpt()
    data = b"Subject: 998\n\n" + b"z" * 998 + b"\n"
    res = mailhop.send(servers.write_config(), [to], data)
    assert res.rc == 0, res
    assert servers.wait_for_delivery(to)[0].endswith(b"\n" + b"z" * 998
                                                     + b"\n")


@pytest.mark.parametrize("ca", ["test-ca", "system-store"])
def test_certificate_for_another_name(servers, mailhop, rcpt, ca):
    """The server at 127.0.0.2 has a certificate from the trusted CA, for
    localhost and 127.0.0.1 only: 69, and no password sent."""
    to = rcpt()
    conf = servers.write_config(host=harness.WRONGNAME_ADDR,
                                port=servers.ports["wrongname"],
                                auth="plain",
                                ca_file=True if ca == "test-ca" else None)
    refused_before_auth(servers, mailhop, conf, to)


def test_silent_server_times_out(servers, mailhop, rcpt):
    """A server that accepts the connection and never greets: the
    account's timeout ends the wait; a temporary failure."""
    to = rcpt()
    conf = servers.write_config(host="127.0.0.1",
                                port=servers.ports["silent"], timeout=2)
    t = time.monotonic()
    res = mailhop.send(conf, [to], MESSAGE)
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "not sent")
    assert 1.5 < elapsed < 10, elapsed
    check_log(servers, res, status="deferred", exit=75)
