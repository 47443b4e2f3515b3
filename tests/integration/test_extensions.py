# SPDX-License-Identifier: ISC
"""ESMTP extensions of MAIL and RCPT: SIZE (RFC 1870), BODY=8BITMIME (RFC
6152, field-bugs B24), SMTPUTF8 (RFC 6531, B23), DSN (RFC 3461, B25) and
partial delivery (B27), through the real Postfix where it can show what it
received, and through a small scripted server of our own where Postfix
cannot be told to lack an extension."""

import re
import socket
import threading
import time
import uuid

import pytest

from mailmodel import check_arrival, check_error_line


# Postfix's default message_size_limit, which the harness keeps.
POSTFIX_SIZE_LIMIT = 10240000


def message(subject, body=b"Hello.\n", extra=b""):
    return (b"From: Alice <alice@example.org>\n"
            b"Subject: " + subject.encode() + b"\n" + extra + b"\n" + body)


def postfix_disconnect_after(servers, since):
    """The first "disconnect from" line smtpd logged after byte offset
    since of the maillog; it counts the commands it received."""
    def find():
        text = servers.read_text(servers.maillog)[since:]
        m = re.search(r"disconnect from \S+ (.*)", text)
        return m.group(1) if m else None
    deadline = time.time() + 10
    while time.time() < deadline:
        got = find()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail("no disconnect line in the maillog")


def maillog_size(servers):
    return len(servers.read_text(servers.maillog))


class FakeServer:
    """One SMTP session on 127.0.0.1 with the EHLO keywords given: every
    command line received is kept (self.lines), the message too
    (self.data); MAIL, RCPT and DATA are accepted."""

    def __init__(self, keywords):
        self.keywords = list(keywords)
        self.lines = []
        self.data = b""
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            f = conn.makefile("rb")
            conn.sendall(b"220 fake.test ESMTP\r\n")
            for line in f:
                cmd = line.rstrip(b"\r\n")
                self.lines.append(cmd.decode("utf-8", "replace"))
                if not self._answer(conn, f, cmd.upper()):
                    break

    def _answer(self, conn, f, cmd):
        if cmd.startswith(b"EHLO"):
            kw = ["fake.test"] + self.keywords
            conn.sendall("".join("250%s%s\r\n" % (
                "-" if i + 1 < len(kw) else " ", k)
                for i, k in enumerate(kw)).encode())
        elif cmd == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            for line in f:
                if line == b".\r\n":
                    break
                self.data += line
            conn.sendall(b"250 2.0.0 Ok: queued as FAKE1\r\n")
        elif cmd == b"QUIT":
            conn.sendall(b"221 2.0.0 Bye\r\n")
            return False
        else:
            conn.sendall(b"250 2.0.0 Ok\r\n")
        return True

    def close(self):
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def fake():
    made = []

    def make(*keywords):
        s = FakeServer(keywords)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def fake_config(servers, srv, allow_from=None):
    return servers.write_config(user=None, tls="off", auth="off",
                                host="127.0.0.1", port=srv.port,
                                ca_file=None, from_addr="alice@example.org",
                                allow_from=allow_from)


def mail_line(lines):
    return next(ln for ln in lines if ln.upper().startswith("MAIL FROM:"))


# SIZE (RFC 1870)

def test_size_over_postfix_limit_refused_before_mail(servers, mailhop, rcpt):
    """Postfix offers SIZE 10240000: a bigger message is refused with 65
    before MAIL, and Postfix saw no MAIL command at all."""
    to = rcpt()
    body = (b"x" * 998 + b"\n") * (POSTFIX_SIZE_LIMIT // 999 + 10)
    data = message("too big", body)
    conf = servers.write_config()
    since = maillog_size(servers)
    res = mailhop.send(conf, [to], data)
    check_error_line(res, 65, "over the server's limit of %d"
                     % POSTFIX_SIZE_LIMIT)
    stats = postfix_disconnect_after(servers, since)
    assert "mail=" not in stats and "rcpt=" not in stats, stats
    assert "quit=1" in stats, stats
    servers.assert_nothing_delivered(to)


def test_size_parameter_sent_and_accepted(servers, mailhop, rcpt):
    """SIZE= on MAIL (the spool size) when the server offers SIZE."""
    to = rcpt()
    data = message("sized")
    conf = servers.write_config()
    res = mailhop.send(conf, [to], data, ["-v"])
    assert res.rc == 0, res
    check_arrival(servers.wait_for_delivery(to)[0], data,
                  "alice@example.org", to)
    m = re.search(r"--> MAIL FROM:<alice@example.org> SIZE=(\d+)",
                  res.stderr)
    assert m, res.stderr
    assert abs(int(m.group(1)) - len(data)) < 400, (m.group(1), len(data))


def test_size_limit_of_a_small_server(servers, mailhop, fake):
    """SIZE 100: a 200-byte message never reaches MAIL; only EHLO and
    QUIT were received."""
    srv = fake("PIPELINING", "SIZE 100")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"],
                       message("big", b"y" * 200 + b"\n"))
    check_error_line(res, 65, "over the server's limit of 100")
    srv.close()
    assert [ln.split()[0].upper() for ln in srv.lines] == ["EHLO", "QUIT"]


def test_size_zero_means_no_limit(servers, mailhop, fake):
    srv = fake("SIZE 0")
    data = message("any size", b"z" * 500 + b"\n")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"], data)
    assert res.rc == 0, res
    srv.close()
    assert re.fullmatch(r"MAIL FROM:<alice@example.org> SIZE=\d+",
                        mail_line(srv.lines)), srv.lines


# BODY=8BITMIME (RFC 6152; field-bugs B24)

def test_B24_7bit_message_has_no_body_parameter(servers, mailhop, fake):
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8", "DSN")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"],
                       message("plain ascii"))
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<alice@example.org>"


def test_B24_8bit_body_without_mime_headers(servers, mailhop, fake):
    """The field case's exact bytes: BODY=8BITMIME, body unchanged."""
    srv = fake("PIPELINING", "8BITMIME")
    data = (b"From: sender@example.com\nTo: alice@example.org\n"
            b"Subject: umlaut\n\nGr\xc3\xbc\xc3\x9fe\n")
    conf = servers.write_config(user=None, tls="off", auth="off",
                                host="127.0.0.1", port=srv.port,
                                ca_file=None,
                                from_addr="sender@example.com")
    res = mailhop.run(["-C", conf, "-t"], data)
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == (
        "MAIL FROM:<sender@example.com> BODY=8BITMIME")
    assert b"\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n" in srv.data


def test_B24_8bit_without_8bitmime_sent_unchanged(servers, mailhop, fake):
    """No 8BITMIME offered: no BODY parameter, the bytes unchanged (never
    re-encoded, no MIME headers added)."""
    srv = fake("PIPELINING")
    data = message("8bit", b"Gr\xc3\xbc\xc3\x9fe\n")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"], data)
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<alice@example.org>"
    assert srv.data.endswith(b"\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n")
    assert b"Content-Transfer-Encoding" not in srv.data


def test_B24_8bit_through_postfix(servers, mailhop, rcpt):
    to = rcpt()
    data = message("8bit", b"Gr\xc3\xbc\xc3\x9fe\n")
    res = mailhop.send(servers.write_config(), [to], data, ["-v"])
    assert res.rc == 0, res
    check_arrival(servers.wait_for_delivery(to)[0], data,
                  "alice@example.org", to)
    assert re.search(r"--> MAIL FROM:<alice@example.org> SIZE=\d+ "
                     r"BODY=8BITMIME\n", res.stderr), res.stderr


# SMTPUTF8 (RFC 6531; field-bugs B23)

def test_B23_case_A_ascii_envelope_no_smtputf8(servers, mailhop, fake):
    """Offered, not needed: never sent, even with UTF-8 in a header."""
    srv = fake("8BITMIME", "SMTPUTF8")
    data = message("utf8 header", extra=b"X-Greeting: Gr\xc3\xbc\xc3\x9fe\n")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"],
                       data)
    assert res.rc == 0, res
    srv.close()
    assert "SMTPUTF8" not in mail_line(srv.lines).upper()


def test_B23_case_C_idn_domain_as_a_label(servers, mailhop, fake):
    """An IDN domain goes as its A-label, without SMTPUTF8."""
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    res = mailhop.send(fake_config(servers, srv),
                       ["user@b\u00fccher.example"], message("idn"))
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<alice@example.org>"
    assert "RCPT TO:<user@xn--bcher-kva.example>" in srv.lines


IDN_FROM = "ops@b\u00fccher.example"
IDN_WIRE = "ops@xn--bcher-kva.example"
# The account may send as alice and as the IDN sender, listed as its
# A-label: the policy compares domains after IDNA.
IDN_ALLOW = ["alice@example.org", IDN_WIRE]


def test_B3_idn_sender_of_the_account_as_a_label(servers, mailhop, fake):
    """The account's from with an IDN domain goes as its A-label in MAIL
    FROM, without SMTPUTF8, as the recipients' domains do; a local From
    field rewritten to it gets the A-label too (what mailhop writes into
    the header is ASCII, so it needs no SMTPUTF8)."""
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    conf = servers.write_config(user=None, tls="off", auth="off",
                                host="127.0.0.1", port=srv.port,
                                ca_file=None, from_addr=IDN_FROM)
    res = mailhop.send(conf, ["bob@example.org"],
                       b"From: Cron Daemon <root>\nSubject: idn\n\nhi\n")
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<%s>" % IDN_WIRE
    assert ("From: Cron Daemon <%s>\r\n" % IDN_WIRE).encode() in srv.data


@pytest.mark.parametrize("args", [[], ["-f", "ops@B\u00dcCHER.example"]])
def test_B3_idn_sender_added_from_and_msgid_in_ascii(servers, mailhop, fake,
                                                     args):
    """A message without From or Message-ID, from an IDN address (the
    account's, or -f in any case): the From field mailhop adds and the
    Message-ID's domain are the A-label, and MAIL FROM asks for neither
    SMTPUTF8 nor 8BITMIME: the header holds no 8-bit byte."""
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    conf = servers.write_config(user=None, tls="off", auth="off",
                                host="127.0.0.1", port=srv.port,
                                ca_file=None, from_addr=IDN_FROM)
    res = mailhop.send(conf, ["bob@example.org"],
                       b"Subject: no from\n\nhi\n", args)
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<%s>" % IDN_WIRE
    head = srv.data.split(b"\r\n\r\n", 1)[0]
    fields = head.split(b"\r\n")
    assert ("From: %s" % IDN_WIRE).encode() in fields, head
    assert any(re.fullmatch(rb"Message-ID: <[^@>]+@xn--bcher-kva\.example>",
                            f) for f in fields), head
    assert max(head) < 0x80, head


def test_B3_idn_sender_of_f_as_a_label(servers, mailhop, fake):
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    res = mailhop.send(fake_config(servers, srv, IDN_ALLOW),
                       ["bob@example.org"], message("idn -f"),
                       ["-f", IDN_FROM])
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<%s>" % IDN_WIRE


def test_B3_idn_sender_in_bs_mode(servers, mailhop, fake):
    """-bs: the dialogue's MAIL FROM with an IDN domain."""
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    dialogue = ("EHLO client\r\nMAIL FROM:<%s>\r\n"
                "RCPT TO:<bob@example.org>\r\nDATA\r\n" % IDN_FROM).encode()
    dialogue += message("idn -bs").replace(b"\n", b"\r\n")
    dialogue += b".\r\nQUIT\r\n"
    res = mailhop.run(["-C", fake_config(servers, srv, IDN_ALLOW), "-bs"],
                      dialogue)
    assert res.rc == 0, res
    assert b"\r\n250 " in res.stdout, res.stdout
    srv.close()
    assert mail_line(srv.lines) == "MAIL FROM:<%s>" % IDN_WIRE


def test_B3_idn_sender_reaches_postfix(servers, mailhop, rcpt):
    """Postfix refuses a raw UTF-8 sender without SMTPUTF8 (501); the
    A-label goes through."""
    to = rcpt()
    res = mailhop.send(servers.write_config(allow_from=IDN_ALLOW), [to],
                       message("idn postfix"), ["-f", IDN_FROM])
    assert res.rc == 0, res
    raw = servers.wait_for_delivery(to)[0]
    assert ("Return-Path: <%s>" % IDN_WIRE).encode() in raw


def test_B23_case_B_smtputf8_offered(servers, mailhop, fake):
    srv = fake("PIPELINING", "8BITMIME", "SMTPUTF8")
    res = mailhop.send(fake_config(servers, srv), ["j\u00f6rg@example.org"],
                       message("utf8 rcpt"))
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines).endswith(" SMTPUTF8"), srv.lines
    assert "RCPT TO:<j\u00f6rg@example.org>" in srv.lines


def test_B23_case_B_smtputf8_not_offered(servers, mailhop, fake):
    srv = fake("PIPELINING", "8BITMIME")
    res = mailhop.send(fake_config(servers, srv), ["j\u00f6rg@example.org"],
                       message("utf8 rcpt"))
    check_error_line(res, 65, "needs SMTPUTF8, the server does not offer")
    srv.close()
    assert [ln.split()[0].upper() for ln in srv.lines] == ["EHLO", "QUIT"]


# DSN (RFC 3461; field-bugs B25)

def test_B25_dsn_parameters_reach_postfix(servers, mailhop, rcpt):
    """-N success -R hdrs -V ID: Postfix honours them, so the sender gets
    a success notice that carries the ENVID and the ORCPT."""
    to = rcpt()
    envid = "env-" + uuid.uuid4().hex[:12]
    sender = "alice@example.org"
    res = mailhop.send(servers.write_config(), [to], message("dsn"),
                       ["-N", "success", "-R", "hdrs", "-V", envid])
    assert res.rc == 0, res
    servers.wait_for_delivery(to)
    deadline = time.time() + 20
    notice = None
    while notice is None and time.time() < deadline:
        notice = next((m for m in servers.maildir_messages(sender)
                       if envid.encode() in m), None)
        time.sleep(0.1)
    assert notice is not None, "no success DSN for %s" % envid
    assert b"Original-Envelope-Id: " + envid.encode() in notice
    assert re.search(rb"Action: delivered", notice)
    assert b"Original-Recipient: rfc822;" + to.encode() in notice


def test_B25_dsn_wire_with_dsn_offered(servers, mailhop, fake):
    srv = fake("PIPELINING", "DSN")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"],
                       message("dsn"), ["-N", "failure,delay", "-R", "hdrs",
                                        "-V", "env-0001"])
    assert res.rc == 0, res
    srv.close()
    assert mail_line(srv.lines) == (
        "MAIL FROM:<alice@example.org> RET=HDRS ENVID=env-0001")
    assert ("RCPT TO:<bob@example.org> NOTIFY=FAILURE,DELAY "
            "ORCPT=rfc822;bob@example.org") in srv.lines


def test_B25_dsn_dropped_without_dsn(servers, mailhop, fake):
    """No DSN offered: nothing of it on the wire, sent anyway, and the
    syslog line says dsn=dropped."""
    srv = fake("PIPELINING")
    res = mailhop.send(fake_config(servers, srv), ["bob@example.org"],
                       message("no dsn"), ["-N", "failure", "-V", "e1"])
    srv.close()
    assert res.rc == 0, res
    assert not any(re.search(r"NOTIFY=|RET=|ENVID=|ORCPT=", ln)
                   for ln in srv.lines), srv.lines
    assert "dsn=dropped" in servers.mailhop_syslog(res.pid)


# Partial delivery (field-bugs B27)

def test_B27_default_all_or_nothing(servers, mailhop, rcpt):
    """Postfix offers PIPELINING, yet with several recipients DATA waits
    for their replies: one refused, and Postfix never sees DATA."""
    good = rcpt()
    since = maillog_size(servers)
    res = mailhop.send(servers.write_config(), [good, "reject@example.org"],
                       message("all or nothing"))
    check_error_line(res, 67, "reject@example.org")
    stats = postfix_disconnect_after(servers, since)
    assert "rcpt=1/2" in stats and "data=" not in stats, stats
    assert "rset=1" in stats and "quit=1" in stats, stats
    servers.assert_nothing_delivered(good)


def test_B27_partial_delivery_on(servers, mailhop, rcpt):
    """partial_delivery = on: the accepted recipients get the message
    once, the exit is still 67 and names the refused one."""
    a, c = rcpt("alice"), rcpt("carol")
    conf = servers.write_config(extra={"partial_delivery": "on"})
    data = message("partial")
    res = mailhop.send(conf, [a, "reject@example.org", c], data)
    check_error_line(res, 67, "reject@example.org")
    for r in (a, c):
        check_arrival(servers.wait_for_delivery(r)[0], data,
                      "alice@example.org", r)
    servers.wait_queue_empty()
    for r in (a, c):
        assert len(servers.maildir_messages(r)) == 1, r


def test_B27_partial_delivery_4xx_only(servers, mailhop, rcpt):
    """Only a 4xx refusal: exit 75 naming it, the accepted recipient has
    the message, and stderr must not claim that nothing was sent."""
    good = rcpt()
    conf = servers.write_config(extra={"partial_delivery": "on"})
    data = message("partial 4xx")
    res = mailhop.send(conf, [good, "tempfail@example.org"], data)
    line = check_error_line(res, 75, "tempfail@example.org")
    check_arrival(servers.wait_for_delivery(good)[0], data,
                  "alice@example.org", good)
    assert "not sent" not in line, line


def bounce_notice_sent(servers, mailhop, conf, args):
    """Send to an address Postfix accepts and then bounces (no mailbox);
    returns whether Postfix sent the sender a non-delivery notice."""
    to = "nobody-%s@example.org" % uuid.uuid4().hex[:12]
    res = mailhop.send(conf, [to], message("bounce"), args)
    assert res.rc == 0, res
    m = re.search(r"queued as ([0-9A-F]+)",
                  servers.mailhop_syslog(res.pid))
    assert m, res
    qid = m.group(1)
    deadline = time.time() + 20
    while not any("status=bounced" in ln for ln in servers.postfix_log(qid)):
        assert time.time() < deadline, servers.postfix_log(qid)
        time.sleep(0.1)
    servers.wait_queue_empty()
    return any("sender non-delivery notification" in ln
               for ln in servers.postfix_log(qid))


def test_B25_notify_never_through_postfix(servers, mailhop):
    """-N never reaches Postfix as NOTIFY=NEVER: a later bounce sends the
    sender nothing; without -N the same bounce does."""
    conf = servers.write_config()
    assert bounce_notice_sent(servers, mailhop, conf, [])
    assert not bounce_notice_sent(servers, mailhop, conf, ["-N", "never"])


def test_B23_case_B_through_postfix(servers, mailhop, rcpt):
    """Postfix offers SMTPUTF8: a UTF-8 local part arrives, with
    SMTPUTF8 on MAIL (Postfix refuses such an address without it)."""
    to = rcpt("j\u00f6rg")
    data = message("utf8 rcpt")
    res = mailhop.send(servers.write_config(), [to], data, ["-v"])
    assert res.rc == 0, res
    raw = servers.wait_for_delivery(to)[0]
    # Postfix names the protocol UTF8SMTP(SA) when MAIL had SMTPUTF8
    # (RFC 6531 4.3); check_arrival's model knows only (E)SMTP.
    assert re.search(rb"\bwith UTF8SMTPSA id [0-9A-F]+\b", raw), raw[:600]
    assert raw.replace(b"\r\n", b"\n").endswith(b"\n\nHello.\n"), raw
    assert re.search(r"--> MAIL FROM:<alice@example.org> SIZE=\d+ "
                     r"SMTPUTF8\n", res.stderr), res.stderr
    assert "--> RCPT TO:<%s>" % to in res.stderr, res.stderr
