# SPDX-License-Identifier: ISC
"""The From policy's default (issue 4): an account without allow_from,
or with allow_from = {}, may send only as its own from address; a local
sender (no domain, localhost, this host's name or its canonical name) is
rewritten to that address first, so that cron, sudo and smartd keep
working; allow_from = "*" leaves the check to the server.

The harness account's from is alice@example.org (write_config)."""

import os
import re
import socket

import pytest

import harness
from conftest import MAILHOP, Mailhop
from mailmodel import check_error_line

FROM = "alice@example.org"


def msg(to, frm, extra=b""):
    return (b"From: " + frm.encode() + b"\nTo: " + to.encode()
            + b"\nSubject: policy\n" + extra + b"\nbody\n")


def connects(servers, offset):
    text = servers.read_text(servers.maillog)[offset:]
    return re.findall(r"\bconnect from \S+", text)


def maillog_offset(servers):
    return len(servers.read_text(servers.maillog))


def header(raw, name):
    """The unfolded value of the first field name of a delivered message."""
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    m = re.search(r"^%s:[ \t]*(.*(?:\n[ \t].*)*)" % re.escape(name), head,
                  re.M | re.I)
    assert m, (name, head)
    return re.sub(r"\s*\n\s*", " ", m.group(1)).strip()


def delivered(servers, to):
    servers.wait_for_delivery(to)
    got = servers.maildir_messages(to)
    assert len(got) == 1, got
    return got[0]


def refused(servers, mailhop, conf, to, args, data, *words):
    """mailhop exits 77 with one line naming words, logs the refusal and
    never connects; nothing reaches the mailbox.  Returns the line."""
    offset = maillog_offset(servers)
    res = mailhop.run(["-C", conf] + list(args), data)
    line = check_error_line(res, 77, *words)
    log = servers.mailhop_syslog(res.pid)
    assert "status=refused" in log and "exit=77" in log, log
    for w in words[:1]:
        assert w in log, (w, log)
    servers.assert_nothing_delivered(to)
    assert not connects(servers, offset)
    return line


def test_default_refuses_another_from(servers, mailhop, rcpt):
    """No allow_from: From: other@example.org is not the account's."""
    to = rcpt("to")
    conf = servers.write_config()
    line = refused(servers, mailhop, conf, to, [to],
                   msg(to, "Other <other@example.org>"),
                   "From address other@example.org", "account test",
                   "only its from, %s" % FROM, "allow_from in %s" % conf,
                   '"*"')
    assert line == (
        'mailhop: From address other@example.org is not allowed for '
        'account test (without allow_from only its from, %s; add it to '
        'allow_from in %s, or "*" to leave it to the server)'
        % (FROM, conf)), line


def test_default_refuses_another_envelope_sender(servers, mailhop, rcpt):
    to = rcpt("to")
    refused(servers, mailhop, servers.write_config(), to,
            ["-f", "bob@example.org", to], msg(to, FROM),
            "envelope sender bob@example.org", "account test")


@pytest.mark.parametrize("frm", [FROM, "Alice <alice@EXAMPLE.ORG>"])
def test_default_accepts_the_accounts_from(servers, mailhop, rcpt, frm):
    """Its own address passes, the domain in any case; the field is sent
    as written."""
    to = rcpt("to")
    res = mailhop.send(servers.write_config(), [to], msg(to, frm))
    assert res.rc == 0 and res.stderr == "", res
    raw = delivered(servers, to)
    assert header(raw, "From") == frm
    assert header(raw, "Return-Path") == "<%s>" % FROM


def local_forms():
    """What cron, sudo and smartd write: a bare name, localhost forms,
    gethostname() and its canonical name (hostname -f)."""
    host = socket.gethostname()
    canon = socket.getaddrinfo(host, None, flags=socket.AI_CANONNAME)[0][3]
    return ["root", "root@localhost", "root@LOCALHOST.localdomain",
            "root@%s" % host, "root@%s" % host.upper(),
            "root@%s" % (canon or host)]


@pytest.mark.parametrize("local", local_forms())
def test_default_rewrites_a_local_from(servers, mailhop, rcpt, local):
    """From: Cron Daemon <root@host> leaves as the account's address with
    its display name, and -f root@host is the account's address too."""
    to = rcpt("to")
    res = mailhop.send(servers.write_config(), [to],
                       msg(to, "Cron Daemon <%s>" % local),
                       extra_args=["-f", local])
    assert res.rc == 0 and res.stderr == "", res
    raw = delivered(servers, to)
    assert header(raw, "From") == "Cron Daemon <%s>" % FROM
    assert header(raw, "Return-Path") == "<%s>" % FROM


def test_default_rewrites_a_local_from_comment_form(servers, mailhop,
                                                   rcpt):
    """cron's 'From: root (Cron Daemon)': the comment stays."""
    to = rcpt("to")
    res = mailhop.send(servers.write_config(), [to],
                       msg(to, "root (Cron Daemon)"))
    assert res.rc == 0 and res.stderr == "", res
    raw = delivered(servers, to)
    assert header(raw, "From") == "%s (Cron Daemon)" % FROM


@pytest.fixture(scope="module")
def mailhop_fqdn(servers):
    """mailhop on a host whose name has dots and whose canonical name is
    another one: a private UTS and mount namespace where gethostname()
    gives box.example.test and /etc/hosts names box.fqdn.test first for
    it (so hostname -f prints box.fqdn.test)."""
    d = servers.path("policy-fqdn")
    os.makedirs(d, exist_ok=True)
    hosts = os.path.join(d, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n"
                "127.0.1.1 box.fqdn.test box.example.test\n")
    wrapper = os.path.join(d, "mailhop")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "exec unshare --uts --mount sh -c 'hostname box.example.test"
                " && mount --bind \"$0\" /etc/hosts && exec \"$@\"' %s %s "
                "\"$@\"\n" % (harness.shlex.quote(hosts),
                              harness.shlex.quote(MAILHOP)))
    os.chmod(wrapper, 0o755)
    return Mailhop(servers, wrapper)


@pytest.mark.parametrize("local", ["root@box.example.test",
                                   "root@BOX.fqdn.test"])
def test_default_rewrites_hostname_and_its_fqdn(servers, mailhop_fqdn, rcpt,
                                                local):
    """root@`hostname` and root@`hostname -f` where they differ and both
    have dots (the canonical name was looked up only for a name without
    a dot)."""
    to = rcpt("to")
    res = mailhop_fqdn.send(servers.write_config(), [to],
                            msg(to, "Cron Daemon <%s>" % local),
                            extra_args=["-f", local])
    assert res.rc == 0 and res.stderr == "", res
    raw = delivered(servers, to)
    assert header(raw, "From") == "Cron Daemon <%s>" % FROM
    assert header(raw, "Return-Path") == "<%s>" % FROM


def test_another_host_is_not_local(servers, mailhop_fqdn, rcpt):
    """A name that is neither: refused, not rewritten."""
    to = rcpt("to")
    refused(servers, mailhop_fqdn, servers.write_config(), to, [to],
            msg(to, "root@other.example.test"),
            "From address root@other.example.test")


def test_empty_allow_from_is_the_default(servers, mailhop, rcpt):
    """allow_from = {} in the account replaces the defaults' "*": only
    its from again."""
    to = rcpt("to")
    conf = servers.write_config(allow_from=[])
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write('defaults {\n\tallow_from = "*"\n}\n' + text)
    refused(servers, mailhop, conf, to, [to], msg(to, "other@example.org"),
            "From address other@example.org", "only its from, %s" % FROM)
    res = mailhop.send(conf, [to], msg(to, "Cron Daemon <root>"))
    assert res.rc == 0 and res.stderr == "", res
    assert header(delivered(servers, to), "From") == (
        "Cron Daemon <%s>" % FROM)


def test_star_leaves_it_to_the_server(servers, mailhop, rcpt):
    to = rcpt("to")
    res = mailhop.send(servers.write_config(allow_from="*"), [to],
                       msg(to, "Other <other@example.org>"))
    assert res.rc == 0 and res.stderr == "", res
    assert header(delivered(servers, to), "From") == (
        "Other <other@example.org>")


@pytest.mark.parametrize("allow", [None, [FROM]])
def test_second_from_address_refused(servers, mailhop, rcpt, allow):
    """From: with two addresses, the first allowed: the second is named."""
    to = rcpt("to")
    conf = servers.write_config(allow_from=allow)
    line = refused(servers, mailhop, conf, to, [to],
                   msg(to, "%s, Eve <eve@example.org>" % FROM,
                       extra=b"Sender: %s\n" % FROM.encode()),
                   "From address eve@example.org")
    assert "From address %s" % FROM not in line, line


def test_unparsable_from_refused_by_default(servers, mailhop, rcpt):
    """A From the default policy cannot read is refused (it may be
    another address); with "*" nothing is checked and it goes."""
    to = rcpt("to")
    bad = "Boss <ceo@example.net"
    refused(servers, mailhop, servers.write_config(), to, [to],
            msg(to, bad), "the From field cannot be parsed")
    res = mailhop.send(servers.write_config(allow_from="*"), [to],
                       msg(to, bad))
    assert res.rc == 0 and res.stderr == "", res
    assert header(delivered(servers, to), "From") == bad
