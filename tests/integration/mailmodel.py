# SPDX-License-Identifier: ISC
"""What should arrive: a model of the documented changes mailhop makes to a
message (msg.h, DESIGN.md), and checks of a delivered message and of
mailhop's syslog line against it.

The documented changes: every line end becomes CRLF (LF, CRLF and a lone
CR each end a line; a last line without one gets one); a leading mbox
"From " (or ">From ") line is dropped; the header ends at the first empty
line or at the first line that is neither a field nor a continuation, and
an empty line is put there when the input had none; Bcc and Content-Length
fields are removed; Date, Message-ID and From are appended, in that order,
at the end of the header when missing; in To, Cc, From and their Resent-
forms a bare local name may be qualified with the local domain (DESIGN.md
"Local names are qualified"; msg_opts.rewrite changes only the addr-spec,
so "From: root (Cron)" becomes "From: root@example.org (Cron)").  Postfix
then removes Return-Path fields from the header (cleanup(8) does;
test_harness.py shows it with smtplib), and its Maildir stores LF line
ends with Return-Path, X-Original-To, Delivered-To and its Received field
on top; the tests strip exactly those.
"""

import email.utils
import os
import re
import time

import harness

# RFC 5322 section 2.2 field name (printable ASCII but ":"), with the
# obsolete WSP before the colon (obs-optional, section 4.5), as msg.c does.
FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:")
REMOVED = (b"bcc", b"content-length")
POSTFIX_REMOVES = (b"return-path",)
ADDED = ("Date", "Message-ID", "From")

# Fields whose bare local names mailhop qualifies (msg.h, msg_opts.rewrite).
QUALIFIED = (b"to", b"cc", b"from", b"resent-to", b"resent-cc",
             b"resent-from")

LOG_FIELDS = ["msgid", "account", "host", "tls", "auth", "uid", "from",
              "rcpt", "size", "status", "reply", "exit"]


def split_lines(data):
    lines = re.split(rb"\r\n|\r|\n", data)
    if lines[-1] == b"":
        lines.pop()  # the input ended with a line end (or was empty)
    return lines


class Expected:
    """The message mailhop should send for input data, as lines without
    line ends; the added fields' values are unknown, only their names."""

    def __init__(self, data):
        lines = split_lines(data)
        fields = []
        self.mbox_from = False
        self.blank_inserted = False
        i = 0
        while i < len(lines):
            ln = lines[i]
            if ln == b"":
                i += 1
                break
            if ln[:1] in (b" ", b"\t") and fields:
                fields[-1].append(ln)
            elif FIELD.match(ln):
                fields.append([ln])
            elif i == 0 and (ln.startswith(b"From ")
                             or ln.startswith(b">From ")):
                self.mbox_from = True  # mbox From_ line (RFC 4155)
            else:
                self.blank_inserted = True
                break  # the body starts here; an empty line goes before it
            i += 1
        else:
            self.blank_inserted = True  # header only: ends with one
        kept = [f for f in fields
                if FIELD.match(f[0]).group(1).lower() not in REMOVED]
        names = {FIELD.match(f[0]).group(1).lower() for f in kept}
        self.removed = [FIELD.match(f[0]).group(1).decode() for f in fields
                        if f not in kept]
        self.sent_header = [ln for f in kept for ln in f]
        self.header = [ln for f in kept for ln in f
                       if FIELD.match(f[0]).group(1).lower()
                       not in POSTFIX_REMOVES]
        self.added = [n for n in ADDED if n.lower().encode() not in names]
        self.body = lines[i:]

    def crlf_size(self, added_lines):
        """Bytes of the message as mailhop sent it (CRLF), given the added
        lines."""
        sent = self.sent_header + added_lines + [b""] + self.body
        return sum(len(x) + 2 for x in sent)


# A local From is rewritten to the account's address (issue 4).
FROMS = (b"from", b"resent-from")
# The address of the account harness.write_config writes by default.
ACCOUNT = b"alice@example.org"
WORD = re.compile(rb"(?<![\w.@-])[\w.-]+(?![\w.@-])")


def local_from_rewritten(got, exp, account=ACCOUNT):
    """got is the From line exp with some bare names replaced by account
    (display names and comments kept)."""
    pat, pos = b"", 0
    for m in WORD.finditer(exp):
        pat += re.escape(exp[pos:m.start()])
        pat += b"(?:" + re.escape(m.group(0)) + b"|" + re.escape(account) \
            + b")"
        pos = m.end()
    pat += re.escape(exp[pos:])
    return re.fullmatch(pat, got) is not None


def match_header(got, exp, domain):
    """got (header lines as they arrived) is exp, but that in the fields
    of QUALIFIED some bare local names may have gained "@" + domain, or
    in From and Resent-From may be the account's address.  Returns the
    difference in octets, or None when they differ otherwise."""
    if len(got) != len(exp):
        return None
    at, name, diff = b"@" + domain.encode(), None, 0
    for g, e in zip(got, exp):
        m = FIELD.match(e)
        name = m.group(1).lower() if m else name
        if g == e:
            continue
        if name in FROMS and local_from_rewritten(g, e):
            diff += len(g) - len(e)
            continue
        if name not in QUALIFIED or g.count(at) <= e.count(at) \
                or g.replace(at, b"") != e.replace(at, b""):
            return None
        diff += len(g) - len(e)
    return diff


def check_arrival(raw, data, sender, rcpt, from_addr=None,
                  local_domain="example.org"):
    """Assert that raw (a delivered Maildir message) is data after the
    documented changes, sent with envelope sender and for rcpt.  Returns
    a dict: the added fields' values by name, "queue_id", "size" (bytes as
    mailhop sent them), "received"."""
    trace, rest = harness.split_trace(raw)
    assert trace.get("return-path") == "<%s>" % sender, trace
    assert trace.get("delivered-to") == rcpt, trace
    assert trace.get("x-original-to") == rcpt, trace
    assert rest.endswith(b"\n") and b"\r" not in rest, rest[-200:]
    got = rest[:-1].split(b"\n")
    exp = Expected(data)

    nh = len(exp.header)
    qualified = match_header(got[:nh], exp.header, local_domain)
    assert qualified is not None, ("header as sent", got[:nh], exp.header)
    added_lines = got[nh:nh + len(exp.added)]
    assert [ln.split(b":", 1)[0].decode() for ln in added_lines] \
        == exp.added, "added fields (got %r)" % added_lines
    assert got[nh + len(exp.added):] == [b""] + exp.body, "body as sent"

    out = {}
    for ln in added_lines:
        name, value = ln.decode().split(":", 1)
        out[name] = value.strip()
    if "Date" in out:
        d = email.utils.parsedate_to_datetime(out["Date"])
        assert abs(d.timestamp() - time.time()) < 600, out["Date"]
    if "Message-ID" in out:
        assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", out["Message-ID"])
    if "From" in out:
        assert out["From"] == (from_addr or sender)
    m = re.search(r"\bwith (E?SMTP\w*) id ([0-9A-F]+)\b", trace["received"])
    assert m, trace["received"]
    out["protocol"] = m.group(1)
    out["queue_id"] = m.group(2)
    out["received"] = trace["received"]
    out["size"] = exp.crlf_size(added_lines) + qualified
    out["expected"] = exp
    return out


def parse_log(msg):
    """mailhop's syslog message as an ordered dict of key=value fields;
    values may be "quoted" with backslash escapes."""
    out = {}
    pos = 0
    rx = re.compile(r' *([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')
    while pos < len(msg):
        m = rx.match(msg, pos)
        assert m, "bad syslog fields at %r" % msg[pos:]
        v = m.group(2)
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        assert m.group(1) not in out, "field %s twice" % m.group(1)
        out[m.group(1)] = v
        pos = m.end()
    return out


def check_log(servers, res, **want):
    """The syslog line of run res: every field, in order; each keyword
    given must match (a compiled regex, or a value compared as str).
    uid, the submitter, is ours (the tests' runs are our children) unless
    asked for: a flush line has the uid of whoever queued the message."""
    fields = parse_log(servers.mailhop_syslog(res.pid))
    want.setdefault("uid", os.getuid())
    # queue=<id>, before status, when the send kept a copy (queued, or
    # in the failed area) and on every line of a flush; asked for as any
    # other field.
    order = LOG_FIELDS
    if "queue" in fields:
        order = LOG_FIELDS[:-3] + ["queue"] + LOG_FIELDS[-3:]
    assert list(fields) == order, fields
    for k, v in want.items():
        k = k.rstrip("_")
        if hasattr(v, "search"):
            assert v.search(fields[k]), (k, fields[k])
        else:
            assert fields[k] == str(v), (k, fields[k])
    return fields


def check_ok(res):
    """mailhop exited 0 and said nothing: a success that also printed a
    warning or an error line is no success."""
    assert res.rc == 0 and res.stderr == "", res


def check_error_line(res, code, *words):
    """mailhop exited with code and said one line "mailhop: ..." that
    contains each of words."""
    assert res.rc == code, res
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailhop: "), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]
