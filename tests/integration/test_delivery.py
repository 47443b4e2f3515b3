# SPDX-License-Identifier: ISC
"""mailhop delivers through the real Postfix: the bytes that arrived, the
envelope, the exit code, stderr, the syslog line, and what the server saw
(TLS, the SASL mechanism and user)."""

import base64
import os
import re

import pytest

import harness
from mailmodel import check_arrival, check_log, split_lines


def message(subject, to="Someone <someone@example.org>", extra=b"",
            frm="Alice <alice@example.org>"):
    return (b"From: " + frm.encode() + b"\n"
            b"To: " + to.encode() + b"\n"
            b"Subject: " + subject.encode() + b"\n" + extra + b"\n"
            b"Hello,\n\nthis is a test message.\n.\n..leading dots\n"
            b"-- \nAlice\n")


def deliver(servers, mailhop, conf, rcpts, data, args=(), sender=None,
            binary=None):
    """Run mailhop, expect success, check every recipient got exactly the
    expected bytes once.  Returns (result, [check_arrival() per rcpt])."""
    sender = sender or "alice@example.org"
    res = mailhop.send(conf, rcpts, data, args, binary=binary)
    assert res.rc == 0, res
    assert res.stderr == ""
    assert res.stdout == b""
    got = []
    for r in rcpts:
        msgs = servers.wait_for_delivery(r)
        got.append(check_arrival(msgs[0], data, sender, r))
    servers.wait_queue_empty()
    for r in rcpts:
        assert len(servers.maildir_messages(r)) == 1, r
    return res, got


AUTH_CASES = [
    # user, tls, auth in the config, mechanism the server must see
    ("alice", "starttls", "scram-sha-256", "SCRAM-SHA-256"),
    ("alice", "starttls", "on", "SCRAM-SHA-256"),  # strongest offered
    ("alice", "starttls", "scram-sha-1", "SCRAM-SHA-1"),
    ("alice", "starttls", "plain", "PLAIN"),
    ("alice", "starttls", "login", "LOGIN"),
    ("alice", "implicit", "plain", "PLAIN"),
    ("alice", "implicit", "login", "LOGIN"),
    ("alice", "implicit", "on", "SCRAM-SHA-256"),
    ("bob", "starttls", "plain", "PLAIN"),
    ("bob", "starttls", "login", "LOGIN"),
    ("bob", "starttls", "scram-sha-1", "SCRAM-SHA-1"),
    ("bob", "starttls", "scram-sha-256", "SCRAM-SHA-256"),
    ("bob", "implicit", "scram-sha-256", "SCRAM-SHA-256"),
]


def bdat_reply(got):
    """Postfix's reply to BDAT LAST (RFC 3030) counts the chunk's bytes."""
    return re.compile(r"^250 2\.0\.0 Ok: \d+ bytes queued as %s$"
                      % got["queue_id"])


@pytest.mark.parametrize("user,tls,auth,mech", AUTH_CASES,
                         ids=["-".join(c[:3]) for c in AUTH_CASES])
def test_tls_and_auth(servers, mailhop, rcpt, user, tls, auth, mech):
    conf = servers.write_config(user=user, tls=tls, auth=auth,
                                from_addr="%s@example.org" % user)
    to = rcpt()
    data = message("%s %s %s" % (user, tls, auth),
                   frm="%s@example.org" % user)
    res, (got,) = deliver(servers, mailhop, conf, [to], data,
                          sender="%s@example.org" % user)
    assert got["protocol"] == "ESMTPSA"
    assert "using TLSv1.3" in got["received"]
    raw = servers.maildir_messages(to)[0]
    assert servers.smtpd_sasl_method(raw) == (mech, user)
    check_log(servers, res, account="test", host="localhost", tls="TLS1.3",
              auth=mech, from_="%s@example.org" % user, rcpt=to,
              size=got["size"], status="sent",
              reply=bdat_reply(got), exit=0,
              msgid=got["Message-ID"].strip("<>"))


def test_ip_literal_host_verified_by_ip_address(servers, mailhop, rcpt):
    """host = 127.0.0.1: the certificate's IP address SAN is what is
    checked (no SNI for an IP literal)."""
    conf = servers.write_config(host="127.0.0.1", auth="scram-sha-256")
    to = rcpt()
    res, (got,) = deliver(servers, mailhop, conf, [to], message("ip"))
    assert got["protocol"] == "ESMTPSA"
    check_log(servers, res, host="127.0.0.1", tls="TLS1.3", status="sent")


def test_plain_port_without_tls_or_auth(servers, mailhop, rcpt):
    conf = servers.write_config(user=None, tls="off", auth="off",
                                from_addr="alice@example.org")
    to = rcpt()
    res, (got,) = deliver(servers, mailhop, conf, [to], message("plain"))
    assert got["protocol"] == "ESMTP"
    assert "TLS" not in got["received"]
    check_log(servers, res, tls="none", auth="none", status="sent", exit=0,
              reply=bdat_reply(got))


def test_extract_recipients_with_t(servers, mailhop, rcpt):
    """-t: To, Cc and Bcc (with display names, a group, a comment, a
    duplicate) plus an argument recipient; Bcc is removed and everyone
    gets the message once."""
    to1, to2, cc1, grp, bcc1, arg = (rcpt("to1"), rcpt("to2"), rcpt("cc1"),
                                     rcpt("grp"), rcpt("bcc1"), rcpt("arg"))
    data = ("From: Alice <alice@example.org>\n"
            "To: \"Doe, John\" <%s>, %s (second)\n"
            "Cc: %s, friends: <%s>;, %s\n"
            "Bcc: <%s>\n"
            "Subject: extract\n"
            "\n"
            "body\n" % (to1, to2, cc1, grp, to1, bcc1)).encode()
    conf = servers.write_config()
    res, got = deliver(servers, mailhop, conf, [arg], data, ["-t"])
    for r in (to1, to2, cc1, grp, bcc1):
        msgs = servers.maildir_messages(r)
        assert len(msgs) == 1, r
        check_arrival(msgs[0], data, "alice@example.org", r)
        _, rest = harness.split_trace(msgs[0])
        assert b"Bcc:" not in rest and bcc1.encode() not in rest
    fields = check_log(servers, res, status="sent", exit=0)
    assert sorted(fields["rcpt"].split(",")) == sorted(
        [arg, to1, to2, cc1, grp, bcc1])


def test_argument_recipients_ignore_header(servers, mailhop, rcpt):
    """Without -t only the arguments are recipients; To, Cc and Bcc are
    not (and Bcc is still removed)."""
    hdr_to, hdr_bcc, a1, a2 = rcpt("hdr"), rcpt("hbcc"), rcpt("a1"), rcpt(
        "a2")
    data = ("From: alice@example.org\nTo: %s\nBcc: %s\nSubject: args\n\n"
            "body\n" % (hdr_to, hdr_bcc)).encode()
    conf = servers.write_config()
    res, got = deliver(servers, mailhop, conf, [a1, a2], data)
    servers.assert_nothing_delivered(hdr_to, hdr_bcc)
    _, rest = harness.split_trace(servers.maildir_messages(a1)[0])
    assert hdr_bcc.encode() not in rest and b"Bcc:" not in rest
    check_log(servers, res, rcpt="%s,%s" % (a1, a2), status="sent")


def test_envelope_sender_from_f(servers, mailhop, rcpt):
    to = rcpt()
    conf = servers.write_config(allow_from="alice+*@example.org")
    data = b"Subject: no From, Date or Message-ID\n\nbody\n"
    res, (got,) = deliver(servers, mailhop, conf, [to], data,
                          ["-f", "alice+list@example.org"],
                          sender="alice+list@example.org")
    assert set(got) >= {"Date", "Message-ID", "From"}
    check_log(servers, res, from_="alice+list@example.org", status="sent")


LINE_ENDS = {
    "lf": b"From: alice@example.org\nSubject: lf\n\nline one\nline two\n",
    "crlf": b"From: alice@example.org\r\nSubject: crlf\r\n\r\n"
            b"line one\r\nline two\r\n",
    "mixed": b"From: alice@example.org\r\nSubject: mixed\n"
             b"X-Folded: a\r\n\tb\n\r\nlf\ncrlf\r\nlone cr\rcr cr lf\r\r\n"
             b"\n\r\nno final line end",
    "crlf-no-final": b"Subject: crlf\r\n\r\nlast line\r\nno end",
    "empty-body": b"From: alice@example.org\nSubject: empty body\n\n",
    "header-only": b"From: alice@example.org\nSubject: header only\n",
    "dots": b"Subject: dots\n\n.\n..\n.x\n. \n.\r\n..\r\nend\n",
}


@pytest.mark.parametrize("case", sorted(LINE_ENDS))
def test_line_ends(servers, mailhop, rcpt, case):
    data = LINE_ENDS[case]
    to = rcpt()
    conf = servers.write_config()
    res, (got,) = deliver(servers, mailhop, conf, [to], data)
    check_log(servers, res, size=got["size"], status="sent")


def test_no_doubled_cr(servers, mailhop, rcpt):
    """CRLF input is not turned into CR CR LF (Postfix would keep a CR)."""
    data = b"Subject: cr\r\n\r\n" + b"x\r\n" * 50
    to = rcpt()
    deliver(servers, mailhop, servers.write_config(), [to], data)
    raw = servers.maildir_messages(to)[0]
    assert b"\r" not in raw
    assert raw.endswith(b"\n\n" + b"x\n" * 50)


def test_header_without_blank_line(servers, mailhop, rcpt):
    data = (b"From: alice@example.org\nSubject: no blank\n"
            b"this line is not a field\nsecond body line\n")
    to = rcpt()
    deliver(servers, mailhop, servers.write_config(), [to], data)
    raw = servers.maildir_messages(to)[0]
    assert b"\n\nthis line is not a field\nsecond body line\n" in raw


def test_eight_bit_and_long_body(servers, mailhop, rcpt):
    """8-bit text (BODY=8BITMIME) and a body of many lines, some at the
    998-octet limit."""
    body = "Grüße, ünïcödé ✓\n".encode() * 2000 + b"y" * 998 + b"\n"
    data = (b"From: alice@example.org\nSubject: 8bit\nMIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=utf-8\n"
            b"Content-Transfer-Encoding: 8bit\n\n" + body)
    to = rcpt()
    res, (got,) = deliver(servers, mailhop, servers.write_config(), [to],
                          data)
    assert len(split_lines(data)) > 2000
    check_log(servers, res, size=got["size"], status="sent")


def test_syslog_line_fields(servers, mailhop, rcpt):
    """The fields in their fixed order, values checked one by one."""
    to1, to2 = rcpt("one"), rcpt("two")
    data = b"Message-ID: <fixed.id.123@example.org>\nSubject: log\n\nx\n"
    conf = servers.write_config(auth="scram-sha-256")
    res, (g1, g2) = deliver(servers, mailhop, conf, [to1, to2], data)
    line = servers.mailhop_syslog(res.pid)
    assert line.startswith("msgid=fixed.id.123@example.org account=test "
                           "host=localhost tls=TLS1.3 auth=SCRAM-SHA-256 "
                           "uid=%d from=alice@example.org rcpt=%s,%s size=%d "
                           "status=sent reply=\"250 2.0.0 Ok: "
                           % (os.getuid(), to1, to2, g1["size"])), line
    assert re.fullmatch(r'.* reply="250 2\.0\.0 Ok: \d+ bytes queued as %s"'
                        r' exit=0'
                        % g1["queue_id"], line), line
    # The raw syslog file line: ident and pid from openlog(LOG_PID).
    raw = servers.wait_syslog(r"mailhop\[%d\]: msgid=" % res.pid)
    assert re.match(r"\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ mailhop\[%d\]: "
                    % res.pid, raw), raw


@pytest.mark.parametrize("auth", ["plain", "login", "scram-sha-256"])
def test_verbose_transcript_hides_secrets(servers, mailhop, rcpt, auth):
    """-v shows the SMTP dialogue on stderr, but no password in any form
    (plain, or base64 as PLAIN and LOGIN carry it)."""
    user, pw = "bob", servers.users["bob"]
    to = rcpt()
    conf = servers.write_config(user=user, auth=auth,
                                from_addr="bob@example.org")
    data = message("verbose", frm="Bob <bob@example.org>")
    res = mailhop.send(conf, [to], data, ["-v"])
    assert res.rc == 0, res
    check_arrival(servers.wait_for_delivery(to)[0], data, "bob@example.org",
                  to)
    err = res.stderr
    assert "--> EHLO" in err or "--> ehlo" in err.lower(), err
    assert re.search(r"<-- 2\d\d", err), err
    assert "AUTH" in err and "<redacted, " in err, err
    forms = [pw, base64.b64encode(pw.encode()).decode(),
             base64.b64encode(b"\0bob\0" + pw.encode()).decode(),
             base64.b64encode(b"bob\0bob\0" + pw.encode()).decode()]
    for f in forms:
        assert f not in err, f
    assert "s3cr" not in err
