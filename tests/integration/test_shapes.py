# SPDX-License-Identifier: ISC
"""Message shapes from the field (../shared/cases/field-bugs.md), each
test named after its case id, through the real Postfix: the bytes that
arrived, who got them, the exit code, and for refusals that nothing
reached the server."""

import email
import email.policy
import os
import re
import subprocess

import pytest

import harness
from mailmodel import check_arrival, check_error_line, check_log

SENDER = "alice@example.org"


def send(servers, mailhop, data, rcpts=(), args=()):
    return mailhop.send(servers.write_config(), list(rcpts), data,
                        list(args))


def send_ok(servers, mailhop, data, rcpts=(), args=()):
    res = send(servers, mailhop, data, rcpts, args)
    assert res.rc == 0, res
    assert res.stderr == ""
    return res


def arrived(servers, to):
    """The one message to got, without Postfix's trace fields."""
    msgs = servers.wait_for_delivery(to)
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 1, to
    return msgs[0]


def header_and_body(raw):
    """(header lines, body) of a delivered message, trace fields off."""
    _, rest = harness.split_trace(raw)
    head, _, body = rest.partition(b"\n\n")
    return head.split(b"\n"), body


def unfolded(lines):
    """Header lines joined into fields (RFC 5322 2.2.3 unfolding)."""
    fields = []
    for ln in lines:
        if ln[:1] in (b" ", b"\t") and fields:
            fields[-1] += ln
        else:
            fields.append(ln)
    return fields


class Mark:
    """Postfix log lines from now on: a refusal opens no session."""

    def __init__(self, servers):
        self.servers = servers
        self.offset = len(servers.read_text(servers.maillog))

    def sessions(self):
        text = self.servers.read_text(self.servers.maillog)[self.offset:]
        return [ln for ln in text.splitlines() if "connect from" in ln]


def check_refused(servers, mailhop, data, code, words, rcpts, args=()):
    mark = Mark(servers)
    res = send(servers, mailhop, data, rcpts, args)
    check_error_line(res, code, *words)
    servers.assert_nothing_delivered(*rcpts)
    assert not mark.sessions()
    return res


# B02: every Bcc line is removed, including consecutive and folded ones.

def test_B02_every_bcc_line_removed(servers, mailhop, rcpt):
    alice, carol, dave, erin = (rcpt("alice"), rcpt("carol"), rcpt("dave"),
                                rcpt("erin"))
    data = ("From: %s\nTo: %s\nBcc: %s\nBcc: %s,\n %s\n"
            "Subject: two bcc lines\n\nhello\n"
            % (SENDER, alice, carol, dave, erin)).encode()
    res = send_ok(servers, mailhop, data, args=["-t"])
    for r in (alice, carol, dave, erin):
        raw = arrived(servers, r)
        check_arrival(raw, data, SENDER, r)
        _, rest = harness.split_trace(raw)
        assert not re.search(rb"(?im)^bcc", rest), rest
        assert erin.encode() not in rest
    fields = check_log(servers, res, status="sent", exit=0)
    assert sorted(fields["rcpt"].split(",")) == sorted(
        [alice, carol, dave, erin])


BCC_VARIANTS = {
    "letter-case": ("To: {a}\nBCC: {b}\nbcc: {c}\nSubject: s\n\nx\n", 3),
    "last-header": ("To: {a}\nSubject: s\nBcc: {b},\n\t{c}\n\nx\n", 3),
    "empty": ("To: {a}\nBcc:\nSubject: s\n\nx\n", 1),
}


@pytest.mark.parametrize("case", sorted(BCC_VARIANTS))
def test_B02_bcc_variants(servers, mailhop, rcpt, case):
    text, n = BCC_VARIANTS[case]
    who = [rcpt("a"), rcpt("b"), rcpt("c")]
    data = ("From: %s\n" % SENDER + text.format(
        a=who[0], b=who[1], c=who[2])).encode()
    send_ok(servers, mailhop, data, args=["-t"])
    for r in who[:n]:
        raw = arrived(servers, r)
        check_arrival(raw, data, SENDER, r)
        assert not re.search(rb"(?im)^bcc", harness.split_trace(raw)[1])
    servers.assert_nothing_delivered(*who[n:])


@pytest.mark.parametrize("extract", [True, False], ids=["t", "argv"])
def test_B02_resent_bcc_removed(servers, mailhop, rcpt, extract):
    """With Resent- fields, -t takes the newest Resent block's recipients
    (RFC 5322 3.6.6), not To/Cc/Bcc; Resent-Bcc and Bcc never leave."""
    new_to, new_bcc, old_to, old_bcc, older = (
        rcpt("nto"), rcpt("nbcc"), rcpt("oto"), rcpt("obcc"), rcpt("old"))
    data = ("Resent-From: %s\nResent-To: %s\nResent-Bcc: %s\n"
            "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\n"
            "Resent-To: %s\nFrom: %s\nTo: %s\nBcc: %s\nSubject: resent\n"
            "\nx\n" % (SENDER, new_to, new_bcc, older, SENDER, old_to,
                       old_bcc)).encode()
    if extract:
        send_ok(servers, mailhop, data, args=["-t"])
        got = [new_to, new_bcc]
    else:
        send_ok(servers, mailhop, data, [new_to])
        got = [new_to]
    for r in got:
        head, body = header_and_body(arrived(servers, r))
        names = [ln.split(b":")[0] for ln in head]
        assert names == [b"Resent-From", b"Resent-To", b"Received",
                         b"Resent-To", b"From", b"To", b"Subject", b"Date",
                         b"Message-ID"], head
        assert new_bcc.encode() not in b"\n".join(head)
        assert body == b"x\n"
    servers.assert_nothing_delivered(
        *[r for r in (new_to, new_bcc, old_to, old_bcc, older)
          if r not in got])


# B03: groups, Bcc-only mail, folded lists, argv-only recipients.

def test_B03_undisclosed_recipients_and_bcc(servers, mailhop, rcpt):
    erin = rcpt("erin")
    data = ("From: %s\nTo: undisclosed-recipients:;\nBcc: %s\n"
            "Subject: bcc only\n\nhi\n" % (SENDER, erin)).encode()
    res = send_ok(servers, mailhop, data, args=["-t"])
    check_arrival(arrived(servers, erin), data, SENDER, erin)
    check_log(servers, res, rcpt=erin, status="sent")


def test_B03_folded_group_with_quoted_comma(servers, mailhop, rcpt):
    a, b, c = rcpt("alice"), rcpt("bob"), rcpt("carol")
    data = ("From: %s\nTo: Team: %s,\n \"Bob, B.\" <%s>;, %s\n"
            "Subject: folded group\n\nx\n" % (SENDER, a, b, c)).encode()
    res = send_ok(servers, mailhop, data, args=["-t"])
    for r in (a, b, c):
        check_arrival(arrived(servers, r), data, SENDER, r)
    fields = check_log(servers, res, status="sent")
    assert fields["rcpt"] == "%s,%s,%s" % (a, b, c)


def test_B03_argv_only_adds_no_to_header(servers, mailhop, rcpt):
    """Policy: no To header is made up (argv recipients may be blind)."""
    frank = rcpt("frank")
    data = b"Subject: no to\n\nbody\n"
    send_ok(servers, mailhop, data, [frank])
    raw = arrived(servers, frank)
    check_arrival(raw, data, SENDER, frank)
    head, _ = header_and_body(raw)
    assert not [ln for ln in head if ln.lower().startswith(b"to:")]


# B08: a leading mbox From_ line is dropped, not taken for the body.

@pytest.mark.parametrize("line", [
    b"From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 "
    b"2001", b">From someone Mon Sep 17 00:00:00 2001"],
    ids=["from", "quoted-from"])
def test_B08_mbox_from_line_dropped(servers, mailhop, rcpt, line):
    to = rcpt()
    data = line + ("\nFrom: Dana Example <%s>\nTo: %s\n"
                   "Subject: [PATCH] fix a typo\n\npatch body\n"
                   "From the start of this line the text is body.\n"
                   % (SENDER, to)).encode()
    send_ok(servers, mailhop, data, args=["-t"])
    raw = arrived(servers, to)
    check_arrival(raw, data, SENDER, to)
    head, body = header_and_body(raw)
    assert head[0] == b"From: Dana Example <%s>" % SENDER.encode()
    assert body == (b"patch body\n"
                    b"From the start of this line the text is body.\n")


# B09: lone dots and leading dots, with and without -i / -oi.

@pytest.mark.parametrize("args", [
    ["-oi", "-t"], ["-i", "-t"], ["-t"], ["-oem", "-odi", "-oi", "-t"]],
    ids=["oi", "i", "no-i", "oem-odi-oi"])
def test_B09_dots_read_to_eof(servers, mailhop, rcpt, args):
    to = rcpt()
    data = ("From: %s\nTo: %s\nSubject: dots\n\nline one\n.\n..two dots\n"
            ".three\nlast line\n" % (SENDER, to)).encode()
    send_ok(servers, mailhop, data, args=args)
    raw = arrived(servers, to)
    check_arrival(raw, data, SENDER, to)
    assert header_and_body(raw)[1] == (b"line one\n.\n..two dots\n"
                                       b".three\nlast line\n")


# B10: CRLF input must not become CR CR LF; mixed line ends.

@pytest.mark.parametrize("data", [
    b"From: alice@example.org\r\nTo: {to}\r\nSubject: crlf\r\n\r\n"
    b"line1\r\nline2\r\n",
    b"From: alice@example.org\nTo: {to}\r\nSubject: mixed\n\r\n"
    b"x\r\ny\n"], ids=["crlf", "mixed"])
def test_B10_crlf_not_doubled(servers, mailhop, rcpt, data):
    to = rcpt()
    data = data.replace(b"{to}", to.encode())
    res = send_ok(servers, mailhop, data, args=["-t"])
    raw = arrived(servers, to)
    got = check_arrival(raw, data, SENDER, to)
    assert b"\r" not in raw
    check_log(servers, res, rcpt=to, size=got["size"], status="sent")


# B13: lines over 998 octets.

def qp_body(raw):
    """The delivered header lines as they travelled, the text with the
    transfer encoding undone, and the longest line."""
    _, rest = harness.split_trace(raw)
    msg = email.message_from_bytes(rest, policy=email.policy.default)
    longest = max(len(ln) for ln in rest.split(b"\n"))
    return header_and_body(raw)[0], msg.get_content(), longest


def test_B13_long_body_line_becomes_quoted_printable(servers, mailhop,
                                                      rcpt):
    to = rcpt()
    data = ("From: %s\nTo: %s\nSubject: long\n\n" % (SENDER, to)).encode() \
        + b"x" * 1500 + b"\n"
    send_ok(servers, mailhop, data, args=["-t"])
    head, text, longest = qp_body(arrived(servers, to))
    assert text == "x" * 1500 + "\n"
    assert longest <= 78
    assert head[-3:] == [b"MIME-Version: 1.0",
                         b"Content-Type: text/plain; charset=us-ascii",
                         b"Content-Transfer-Encoding: quoted-printable"]


def test_B13_long_utf8_line_labelled_utf8(servers, mailhop, rcpt):
    """No Content-Type and an 8-bit body: charset=utf-8 only because the
    bytes are UTF-8; the 8bit encoding field is replaced."""
    to = rcpt()
    line = "Grüße " * 300
    data = ("From: %s\nTo: %s\nSubject: long 8bit\n"
            "Content-Transfer-Encoding: 8bit\n\n%s\nend\n"
            % (SENDER, to, line)).encode()
    send_ok(servers, mailhop, data, args=["-t"])
    head, text, longest = qp_body(arrived(servers, to))
    assert text == line + "\nend\n"
    assert longest <= 78
    assert head[-3:] == [b"MIME-Version: 1.0",
                         b"Content-Type: text/plain; charset=utf-8",
                         b"Content-Transfer-Encoding: quoted-printable"]
    assert len([ln for ln in head if ln.lower().startswith(
        b"content-transfer-encoding")]) == 1


@pytest.mark.parametrize("data,words", [
    (b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
     b"--b\n\n" + b"x" * 1200 + b"\n--b--\n", ("line 6", "multipart")),
    (b"Content-Transfer-Encoding: base64\n\n" + b"Q" * 1000 + b"\n",
     ("line 3", "base64")),
    (b"Subject: latin-1\n\ncaf\xe9 " + b"y" * 1000 + b"\n",
     ("line 3", "not UTF-8")),
], ids=["multipart", "base64", "latin1-no-charset"])
def test_B13_long_line_refused_when_not_lossless(servers, mailhop, rcpt,
                                                 data, words):
    check_refused(servers, mailhop, data, 65, words, [rcpt()])


def test_B13_long_header_folded_at_white_space(servers, mailhop, rcpt):
    to = rcpt()
    value = " ".join(["word%04d" % i for i in range(130)])
    data = ("From: %s\nTo: %s\nX-Long: %s\nSubject: s\n\nx\n"
            % (SENDER, to, value)).encode()
    send_ok(servers, mailhop, data, args=["-t"])
    head, body = header_and_body(arrived(servers, to))
    assert max(len(ln) for ln in head) <= 998
    assert len([ln for ln in head if ln[:1] == b" "]) >= 1
    assert b"X-Long: " + value.encode() in unfolded(head)
    assert body == b"x\n"


def test_B13_long_header_without_white_space_refused(servers, mailhop,
                                                    rcpt):
    data = b"Subject: s\nX-Long: " + b"h" * 1200 + b"\n\nx\n"
    check_refused(servers, mailhop, data, 65, ("X-Long", "line 2"),
                  [rcpt()])


# B16: empty stdin.

def test_B16_empty_stdin_with_t_has_no_recipients(servers, mailhop):
    mark = Mark(servers)
    res = mailhop.run(["-C", servers.write_config(), "-t"], b"")
    check_error_line(res, 64)
    assert not mark.sessions()


def test_B16_empty_stdin_with_recipient_is_sent(servers, mailhop, rcpt):
    """Documented: an empty message is sent with the generated From, Date
    and Message-ID and an empty body (as Postfix's sendmail does)."""
    to = rcpt()
    send_ok(servers, mailhop, b"", [to])
    raw = arrived(servers, to)
    got = check_arrival(raw, b"", SENDER, to)
    assert set(got) >= {"Date", "Message-ID", "From"}
    assert header_and_body(raw)[1] == b""


def test_B16_closed_stdin(servers, mailhop, rcpt):
    to = rcpt()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": servers.path("home"), "LANG": "C.UTF-8"}
    p = subprocess.run([mailhop.path, "-C", servers.write_config(), "--",
                        to], stdin=subprocess.DEVNULL,
                       capture_output=True, env=env, timeout=30,
                       preexec_fn=lambda: os.close(0))
    assert p.returncode == 66, p
    servers.assert_nothing_delivered(to)


# B24: an 8-bit body without MIME fields goes as it is.

def test_B24_8bit_body_without_mime_unchanged(servers, mailhop, rcpt):
    to = rcpt()
    data = ("From: %s\nTo: %s\nSubject: umlaut\n\nGrüße\n"
            % (SENDER, to)).encode()
    send_ok(servers, mailhop, data, args=["-t"])
    raw = arrived(servers, to)
    check_arrival(raw, data, SENDER, to)
    head, body = header_and_body(raw)
    assert body == "Grüße\n".encode()
    assert not [ln for ln in head if ln.lower().startswith(
        (b"mime-version", b"content-"))]


# R21: other odd shapes real callers send pass unharmed.

SHAPES = {
    # name: (input, -t?), {to} and {bcc} filled in
    "lower-case-names": (b"from: alice@example.org\nto: {to}\nbcc: {bcc}\n"
                         b"subject: lower\ncontent-length: 3\n\nbody\n",
                         True),
    "no-header": (b"just a body line\nand another\n", False),
    "no-blank-line": (b"From: alice@example.org\nTo: {to}\n"
                      b"The job said: nothing to do\n", True),
    "last-line-no-newline": (b"Subject: s\n\nfirst\nlast", False),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_R21_odd_shapes(servers, mailhop, rcpt, case):
    text, extract = SHAPES[case]
    to, bcc = rcpt("to"), rcpt("bcc")
    data = text.replace(b"{to}", to.encode()).replace(b"{bcc}",
                                                       bcc.encode())
    if extract:
        send_ok(servers, mailhop, data, args=["-t"])
    else:
        send_ok(servers, mailhop, data, [to])
    got = [to, bcc] if b"{bcc}" in text else [to]
    for r in got:
        raw = arrived(servers, r)
        check_arrival(raw, data, SENDER, r)
        head, _ = header_and_body(raw)
        assert not [ln for ln in head if ln.lower().startswith(
            (b"bcc", b"content-length"))]
    if b"{bcc}" not in text:
        servers.assert_nothing_delivered(bcc)


# -F: only when the message has no From (R9); a phrase, never a new line.

@pytest.mark.parametrize("name,shown", [
    ("CronDaemon", b"CronDaemon"),
    ("Evil, <admin@bank.example>", b'"Evil, <admin@bank.example>"'),
    ("Jörg Müller", b"=?UTF-8?Q?J=C3=B6rg_M=C3=BCller?="),
], ids=["atom", "S27-specials", "utf8"])
def test_S27_fullname_in_added_from(servers, mailhop, rcpt, name, shown):
    to = rcpt()
    send_ok(servers, mailhop, b"Subject: cron\n\nx\n", [to], ["-F", name])
    head, _ = header_and_body(arrived(servers, to))
    assert b"From: " + shown + b" <" + SENDER.encode() + b">" in head, head


def test_R9_fullname_ignored_when_from_present(servers, mailhop, rcpt):
    to = rcpt()
    data = b"From: %s (Cron Daemon)\nSubject: cron\n\nx\n" % SENDER.encode()
    send_ok(servers, mailhop, data, [to], ["-FCronDaemon"])
    head, _ = header_and_body(arrived(servers, to))
    assert [ln for ln in head if ln.startswith(b"From:")] == [
        b"From: %s (Cron Daemon)" % SENDER.encode()]
