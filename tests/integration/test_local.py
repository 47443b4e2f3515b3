# SPDX-License-Identifier: ISC
"""Local names through the real Postfix: the aliases file, local_domain,
bare envelope senders and bare header addresses (field bugs B17, B18;
callers.md R16).  The test Postfix appends @mx.mailhop.test to a bare
address it receives, so an exact Return-Path and X-Original-To show that
mailhop qualified the envelope itself."""

import os
import re
import subprocess

import pytest

import harness
from mailmodel import check_error_line, check_log



def write_aliases(servers, text, name):
    d = servers.path("mailhop")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o644)
    return p


def config(servers, aliases=None, local_domain=None, **extra):
    keys = dict(extra)
    if aliases is not None:
        keys["aliases"] = harness.conf_quote(aliases)
    if local_domain is not None:
        keys["local_domain"] = harness.conf_quote(local_domain)
    return servers.write_config(extra=keys)


def arrived(servers, rcpt):
    """The one message rcpt got: (trace fields, header lines as bytes)."""
    msgs = servers.wait_for_delivery(rcpt)
    servers.wait_queue_empty()
    assert len(msgs) == 1, rcpt
    trace, rest = harness.split_trace(msgs[0])
    header = rest.split(b"\n\n", 1)[0].split(b"\n")
    return trace, header


def b17(servers, mailhop, rcpt):
    admin = rcpt("admin")
    aliases = write_aliases(servers, "# B17\npostmaster: root\n"
                            "root: %s\n" % admin, "aliases-b17")
    conf = config(servers, aliases, "example.com")
    data = (b"From: alice@example.org\nTo: root\n"
            b"Subject: disk almost full\n\n/var is at 97%\n")
    res = mailhop.send(conf, ["root"], data)
    assert res.rc == 0, res
    trace, header = arrived(servers, admin)
    assert trace["x-original-to"] == admin
    assert trace["return-path"] == "<alice@example.org>"
    check_log(servers, res, rcpt=admin, status="sent", exit=0)
    return header


def test_B17_envelope(servers, mailhop, rcpt):
    """mailhop root, with root aliased: RCPT TO the alias target."""
    b17(servers, mailhop, rcpt)


def test_B17(servers, mailhop, rcpt):
    """... and the To header qualified with local_domain (not left as a
    bare "root", which SES and others refuse)."""
    header = b17(servers, mailhop, rcpt)
    assert b"To: root@example.com" in header, header


def test_B17_extract(servers, mailhop, rcpt):
    """mailhop -t with To: root: the header's bare name is aliased for the
    envelope, qualified in the header."""
    admin = rcpt("admin")
    aliases = write_aliases(servers, "root: %s\n" % admin, "aliases-b17t")
    conf = config(servers, aliases, "example.com")
    data = (b"From: alice@example.org\nTo: root\n"
            b"Subject: disk almost full\n\n/var is at 97%\n")
    res = mailhop.run(["-C", conf, "-t"], data)
    assert res.rc == 0, res
    trace, header = arrived(servers, admin)
    assert trace["x-original-to"] == admin
    assert b"To: root@example.com" in header, header


def test_B17_no_alias(servers, mailhop, rcpt):
    """A bare name with no entry gets local_domain: RCPT
    TO:<name@example.com>, never <name>."""
    to = rcpt("nosuchalias", domain="example.com")
    aliases = write_aliases(servers, "root: admin@example.org\n",
                            "aliases-b17n")
    conf = config(servers, aliases, "example.com")
    local = to.split("@")[0]
    res = mailhop.send(conf, [local], b"Subject: no alias\n\nbody\n")
    assert res.rc == 0, res
    trace, _ = arrived(servers, to)
    assert trace["x-original-to"] == to


def test_B17_loop(servers, mailhop, rcpt):
    """An alias loop stops with 78, naming the file and the line of the
    entry that closes it; nothing is sent."""
    aliases = write_aliases(servers, "# loop\na: b\nb: a\n", "aliases-loop")
    conf = config(servers, aliases, "example.com")
    res = mailhop.send(conf, ["a"], b"Subject: loop\n\nbody\n")
    check_error_line(res, 78, "%s:3: b: alias loop a -> b -> a" % aliases)
    servers.assert_nothing_delivered("a@example.com", "b@example.com")


def test_B18(servers, mailhop, rcpt):
    """cronie as root, no -f: MAIL FROM the account, RCPT TO the alias
    target, the comment-style From qualified with its comment kept (or
    the account's address, per the From policy)."""
    admin = rcpt("admin")
    aliases = write_aliases(servers, "root: %s\n" % admin, "aliases-b18")
    conf = config(servers, aliases)
    data = (b"From: root (Cron Daemon)\nTo: root\n"
            b"Subject: Cron <root@host1> /usr/local/bin/backup\n\n"
            b"backup finished\n")
    res = mailhop.send(conf, ["root"], data,
                       ["-FCronDaemon", "-i", "-B8BITMIME", "-oem"])
    assert res.rc == 0, res
    trace, header = arrived(servers, admin)
    assert trace["return-path"] == "<alice@example.org>"
    assert trace["x-original-to"] == admin
    froms = [h for h in header if h.lower().startswith(b"from:")]
    assert len(froms) == 1, header
    # Issue 4: a local From becomes the account's address, comment kept.
    assert froms == [b"From: alice@example.org (Cron Daemon)"], froms
    assert b"To: root@example.org" in header, header


def test_B18_bare_envelope_sender(servers, mailhop, rcpt):
    """-f fail2ban (cronie, fail2ban): a local envelope sender becomes the
    account's address (issue 4), never <fail2ban>, nor
    fail2ban@local_domain, an address the account may not own."""
    to = rcpt()
    conf = config(servers, local_domain="example.net")
    res = mailhop.send(conf, [to], b"Subject: fail2ban\n\nbanned\n",
                       ["-f", "fail2ban"])
    assert res.rc == 0, res
    trace, header = arrived(servers, to)
    assert trace["return-path"] == "<alice@example.org>"
    # The added From is the envelope sender, so the account's too.
    assert b"From: alice@example.org" in header, header


def test_local_keys_accepted(servers, mailhop, rcpt):
    """aliases, local_domain and partial_delivery are keys of the account;
    mail to a full address is not touched by them."""
    to = rcpt()
    aliases = write_aliases(servers, "root: admin@example.org\n",
                            "aliases-keys")
    conf = config(servers, aliases, "example.com", partial_delivery="on")
    res = mailhop.send(conf, [to], b"From: alice@example.org\n"
                       b"Subject: keys\n\nbody\n")
    assert res.rc == 0, res
    trace, _ = arrived(servers, to)
    assert trace["x-original-to"] == to
    assert trace["return-path"] == "<alice@example.org>"


@pytest.mark.parametrize("key,value,words", [
    ("aliases", '"aliases"', ["aliases: \"aliases\" is not an absolute "
                              "path"]),
    ("aliases", '"/nonexistent/aliases"', ["aliases: cannot read "
                                           "/nonexistent/aliases"]),
    ("local_domain", '"root@example.com"', ["local_domain: "
                                            "\"root@example.com\" is not "
                                            "a domain name"]),
    ("partial_delivery", "sometimes", ["partial_delivery: \"sometimes\" "
                                       "is not on or off"]),
])
def test_local_keys_checked(servers, mailhop, rcpt, key, value, words):
    """A bad value stops with 78 and FILE:LINE: KEY before connecting."""
    conf = servers.write_config(extra={key: value})
    with open(conf) as f:
        line = 1 + [ln.split("=")[0].strip() for ln in f].index(key)
    res = mailhop.send(conf, [rcpt()], b"Subject: x\n\nbody\n")
    check_error_line(res, 78, "%s:%d: " % (conf, line), *words)


def test_B17_loop_found_by_newaliases(servers, mailhop):
    """newaliases (-bi) expands every entry, so it finds the loop before
    mail does: 78 with the file and line; sends nothing."""
    aliases = write_aliases(servers, "root: a\na: b\nb: a\n"
                            "decode: /dev/null\n", "aliases-loop-bi")
    conf = config(servers, aliases, "example.com")
    res = mailhop.run(["-C", conf, "-bi"])
    check_error_line(res, 78, "%s:3: b: alias loop root -> a -> b -> a"
                     % aliases)
    with open(aliases, "w") as f:
        f.write("root: a\na: b@example.org\ndecode: /dev/null\n")
    res = mailhop.run(["-C", conf, "-bi"])
    assert res.rc == 0, res
    assert res.stderr == ("mailhop: %s:3: decode: /dev/null: ignored "
                          "(mailhop sends mail; it cannot run programs, "
                          "write files or read :include: lists)\n"
                          % aliases), res.stderr


REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_help_is_the_synopsis(mailhop):
    """--help's usage lines are mailhop(1)'s SYNOPSIS, word for word (as
    mandoc renders it, -qD<id> for the manual's italic id): the same forms
    in the same order, -C with --pretend and --serverinfo, -r, -bs and
    --help | --version included."""
    res = mailhop.run(["--help"])
    assert (res.rc, res.stderr) == (0, ""), res
    text = res.stdout.decode()
    usage = text[:text.index("\n\n")]
    assert usage.startswith("usage: "), usage
    words = usage[len("usage: "):].replace("-qD<id>", "-qDid").split()
    man = subprocess.run(["mandoc", "-Tascii",
                          os.path.join(REPO, "man", "mailhop.1")],
                         stdout=subprocess.PIPE, check=True).stdout
    # Drop the overstrike (bold, underline) mandoc -Tascii writes.
    plain = re.sub(rb".\x08", b"", man).decode()
    synopsis = plain[plain.index("SYNOPSIS") + len("SYNOPSIS"):
                     plain.index("DESCRIPTION")]
    assert words == synopsis.split(), (words, synopsis.split())


@pytest.mark.parametrize("page", ["mailhop.1", "mailhop.conf.5"])
def test_man_page_quotes_do_not_nest(page):
    """Each quoted item of the manuals is its own .Ql: rendered, no quote
    opens inside another (mailhop(1) showed the IDNA example as
    (‘bücher.example as ‘xn--bcher-kva.example’’), IDNA 2008), and
    mailhop.conf(5) queue_lifetime's as (‘36h, ‘7d’’))."""
    out = subprocess.run(["mandoc", "-Tutf8", os.path.join(REPO, "man", page)],
                         stdout=subprocess.PIPE, check=True).stdout
    text = re.sub(r".\x08", "", out.decode())
    assert re.findall(r"‘[^’\n]*‘|’’", text) == []
    if page == "mailhop.1":
        assert ("(‘bücher.example’ as ‘xn--bcher-kva.example’, IDNA 2008)"
                in " ".join(text.split())), text
    else:
        assert "(‘36h’, ‘7d’);" in text, text


def test_help_and_version_read_no_config(mailhop, tmp_path):
    """--help and --version print on standard output and exit 0 without
    a configuration: -C names a file that does not exist, and no home
    config is there; nothing reaches standard error."""
    missing = str(tmp_path / "no-such-config")
    res = mailhop.run(["-C", missing, "--version"])
    assert (res.rc, res.stderr) == (0, ""), res
    assert re.fullmatch(rb"mailhop \d+\.\d+\.\d+ \(GnuTLS 3\.[\d.]+, "
                        rb"libidn2 [\d.]+\)\n", res.stdout), res.stdout
    res = mailhop.run(["-C", missing, "--help"])
    assert (res.rc, res.stderr) == (0, ""), res
    lines = res.stdout.decode().splitlines()
    assert lines[0].startswith("usage: mailhop [-bm] [-imtv]"), lines
    for usage in ("mailhop --serverinfo [-v] [-a account] [-C file]",
                  "mailhop [-C file] --store-password account",
                  "mailhop --help | --version", "[-f sender | -r sender]"):
        assert any(usage in ln for ln in lines), (usage, lines)
    res = mailhop.run(["--help", "someone@example.org"])
    assert res.rc == 64 and res.stdout == b"", res
    assert res.stderr == ("mailhop: --help takes no recipient arguments; "
                          "leave them out\n"), res


def test_pretend_shows_the_envelope(servers, mailhop):
    """--pretend ends with the envelope a send would use: the local -f
    made the account's address, aliases and local_domain applied to the
    recipient arguments; with -t, that the header adds more."""
    aliases = write_aliases(servers, "ops: root, carol@elsewhere.example\n"
                            "root: admin@example.com\n", "aliases-pretend")
    conf = config(servers, aliases, "example.com")
    res = mailhop.run(["--pretend", "-C", conf, "-f", "root", "ops", "dave",
                       '"X Y" <x@y.example>'])
    assert res.rc == 0 and res.stderr == "", res
    assert res.stdout.decode().splitlines()[-2:] == [
        "envelope sender: alice@example.org",
        "recipients: admin@example.com, carol@elsewhere.example, "
        "dave@example.com, x@y.example"]
    # A message on a pipe is read as a send reads it: -t adds the
    # recipients of its header, aliases and local names applied.
    res = mailhop.run(["--pretend", "-C", conf, "-t", "-f", ""],
                      b"To: ops, Eve <eve>\nBcc: z@z.example\n\nhi\n")
    assert res.rc == 0, res
    assert res.stdout.decode().splitlines()[-2:] == [
        "envelope sender: <>",
        "recipients: admin@example.com, carol@elsewhere.example, "
        "eve@example.com, z@z.example"]


@pytest.mark.parametrize("args,code,words", [
    (["-f", "ceo@elsewhere.example", "x@y.example"], 77,
     ("envelope sender ceo@elsewhere.example is not allowed",)),
    (["a@@y.example"], 64, ("recipient argument: missing domain",)),
    (["-t"], 77, ("From address ceo@elsewhere.example is not allowed",)),
], ids=["sender-refused", "bad-recipient", "from-refused"])
def test_pretend_stops_where_a_send_would(servers, mailhop, args, code,
                                          words):
    """The settings are shown, then the send's own error and exit code;
    no envelope lines."""
    conf = servers.write_config()
    res = mailhop.run(["--pretend", "-C", conf] + args,
                      b"From: ceo@elsewhere.example\nTo: x@y.example\n\n")
    check_error_line(res, code, *words)
    out = res.stdout.decode()
    assert out.startswith("account: ") and "envelope sender" not in out
