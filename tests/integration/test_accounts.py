# SPDX-License-Identifier: ISC
"""Several accounts in one file (issue 4): a defaults section they
inherit, the account chosen by -a, -f, the From header or
default_account, what reaches the real Postfix with which SASL user,
--pretend (the choice and the settings, secrets masked, no connection),
and the rewrite of a local From to the account's address."""

import os
import socket
import subprocess

import pytest

import harness
from mailmodel import check_error_line, check_log


def write(servers, name, text, mode=0o600):
    d = servers.path("mailhop")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(p, mode)
    return p


def accounts_conf(servers, name, host="localhost", port=None, extra_a="",
                  extra_b=""):
    """Three accounts sharing one server through defaults: a (SASL user
    alice, allow_from *@a.example), b (user bob, its from only), c (user
    alice, *@c.example); default_account a."""
    q = harness.conf_quote
    port = port or servers.port_for("starttls")
    text = """\
default_account = "a"
defaults {
	host = %s
	port = %d
	tls = starttls
	tls_ca_file = %s
	timeout = 10
	queue = off
	user = "alice"
	password = %s
}
account a {
	from = "alice@a.example"
	allow_from = {"*@a.example"}
%s}
account b {
	from = "bob@b.example"
	user = "bob"
	password = %s
%s}
account c {
	from = "carol@c.example"
	allow_from = "*@c.example"
}
""" % (q(host), port, q(servers.ca_file), q(servers.users["alice"]),
       extra_a, q(servers.users["bob"]), extra_b)
    return write(servers, name, text)


def delivered(servers, to):
    """(raw message, trace fields, header lines, SASL user) of the one
    message to got."""
    msgs = servers.wait_for_delivery(to)
    servers.wait_queue_empty()
    assert len(msgs) == 1, to
    trace, rest = harness.split_trace(msgs[0])
    header = rest.split(b"\n\n", 1)[0].split(b"\n")
    _, user = servers.smtpd_sasl_method(msgs[0])
    return msgs[0], trace, header, user


@pytest.fixture(scope="module")
def conf(servers):
    return accounts_conf(servers, "accounts.conf")


MSG = b"Subject: which account\n\nbody\n"


@pytest.mark.parametrize("args,data,account,user,sender", [
    # -a wins over default_account (and over -f: test_a_wins_over_f).
    (["-a", "b"], MSG, "b", "bob", "bob@b.example"),
    # -f: the first account whose allow_from (else from) matches.
    (["-f", "bob@b.example"], MSG, "b", "bob", "bob@b.example"),
    (["-f", "news@c.example"], MSG, "c", "alice", "news@c.example"),
    # The From header, when -f matches nothing or is not given.
    ([], b"From: Bob <bob@b.example>\n" + MSG, "b", "bob", "bob@b.example"),
    ([], b"From: Carol <carol+x@c.example>\n" + MSG, "c", "alice",
     "carol@c.example"),
    # Nothing matches: default_account.
    ([], MSG, "a", "alice", "alice@a.example"),
], ids=["-a", "-f-from", "-f-allow_from", "From-b", "From-c",
        "default-no-From"])
def test_account_chosen(servers, mailhop, rcpt, conf, args, data, account,
                        user, sender):
    """The account chosen logs in as its own SASL user, sends with its
    envelope sender, and is named in the log line."""
    to = rcpt()
    res = mailhop.send(conf, [to], data, args)
    assert res.rc == 0, res
    _, trace, _, sasl_user = delivered(servers, to)
    assert sasl_user == user
    assert trace["return-path"] == "<%s>" % sender
    check_log(servers, res, account=account, status="sent", exit=0)


def test_a_wins_over_f(servers, mailhop, rcpt, conf):
    """-a b with an -f that account a's allow_from matches: b is used,
    and b, without allow_from, may send only as bob@b.example (77)."""
    to = rcpt()
    res = mailhop.send(conf, [to], MSG, ["-a", "b", "-f", "x@a.example"])
    check_error_line(res, 77, "envelope sender x@a.example",
                     "account b", "only its from, bob@b.example")
    servers.assert_nothing_delivered(to)
    check_log(servers, res, account="b", status="refused", exit=77)


def test_unmatched_From_goes_to_default_account(servers, mailhop, rcpt,
                                                conf):
    """A From no account matches: default_account a is chosen, and its
    allow_from refuses the From (77) before anything is sent."""
    to = rcpt()
    res = mailhop.send(conf, [to], b"From: someone@elsewhere.example\n"
                       + MSG)
    check_error_line(res, 77, "someone@elsewhere.example",
                     "account a", "allow_from")
    servers.assert_nothing_delivered(to)
    check_log(servers, res, account="a", status="refused", exit=77)


def test_From_choice_reads_message_once(servers, mailhop_asan, rcpt, conf):
    """The header read to choose the account is sent as it was, with a
    body larger than what is read ahead (ASan build)."""
    to = rcpt()
    body = b"".join(b"line %06d of a long body\n" % i
                    for i in range(40000))
    data = b"From: Bob <bob@b.example>\nSubject: big\n\n" + body
    res = mailhop_asan.send(conf, [to], data)
    assert res.rc == 0, res
    raw, _, header, user = delivered(servers, to)
    assert user == "bob"
    assert b"From: Bob <bob@b.example>" in header
    assert raw.endswith(b"\n\n" + body), raw[-200:]


def test_unknown_account(servers, mailhop, rcpt, conf):
    """-a with a name the file lacks: 78, naming the file and the
    accounts there are; nothing is sent."""
    to = rcpt()
    res = mailhop.send(conf, [to], MSG, ["-a", "nosuch"])
    check_error_line(res, 78, "-a nosuch: no such account in %s" % conf,
                     "(accounts: a, b, c)")
    servers.assert_nothing_delivered(to)


@pytest.mark.parametrize("args,named", [
    (["--store-password", "nosuch"], "--store-password nosuch"),
    (["--store-password=nosuch"], "--store-password nosuch"),
    (["-a", "nosuch", "--store-password", "nosuch"],
     "--store-password nosuch"),
    (["--serverinfo", "-a", "nosuch"], "-a nosuch"),
], ids=["store-password", "store-password=", "both", "serverinfo"])
def test_unknown_account_names_its_option(mailhop, conf, args, named):
    """The error names the option that named the account:
    --store-password NAME said "-a NAME", an option never typed."""
    res = mailhop.run(["-C", conf] + args, b"not-stored\n")
    line = check_error_line(res, 78, "mailhop: %s: no such account in %s "
                            "(accounts: a, b, c)" % (named, conf))
    assert line.count(" -a ") == named.startswith("-a"), line
    assert res.stdout == b""


def test_defaults_error_points_at_defaults(servers, mailhop, rcpt):
    """A bad value in defaults: FILE:LINE: KEY: at the defaults line."""
    p = write(servers, "bad-defaults.conf",
              "defaults {\n\thost = localhost\n\ttimeout = 0\n}\n"
              "account a {\n\tfrom = a@a.example\n}\n")
    res = mailhop.send(p, [rcpt()], MSG)
    check_error_line(res, 78, "%s:3: timeout: 0 is out of range" % p)


def test_missing_host_after_defaults(servers, mailhop, rcpt):
    p = write(servers, "nohost.conf",
              "defaults {\n\ttimeout = 5\n}\n"
              "account lone {\n\tfrom = a@a.example\n}\n")
    res = mailhop.send(p, [rcpt()], MSG)
    check_error_line(res, 78, "%s:4: account lone: host is missing" % p)


# ------------------------------------------------------------- --pretend


@pytest.fixture
def listener():
    """A TCP port that accepts nothing: a connection to it would be
    queued in its backlog, where accept_pending() finds it."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    s.setblocking(False)
    yield s
    s.close()


def accept_pending(s):
    try:
        c, _ = s.accept()
    except BlockingIOError:
        return False
    c.close()
    return True


def test_pretend_shows_choice_and_masks(servers, mailhop, tmp_path,
                                        listener):
    """--pretend -f: the account, the rule, the file, every setting with
    where it comes from; the password masked; exit 0; no connection."""
    port = listener.getsockname()[1]
    p = accounts_conf(servers, "pretend.conf", port=port)
    res = mailhop.run(["--pretend", "-C", p, "-f", "news@c.example", "-t"])
    assert res.rc == 0, res
    out = res.stdout.decode()
    lines = out.splitlines()
    assert lines[0] == "account: c"
    assert lines[1] == ('chosen by: the envelope sender (-f) news@c.example'
                        ' matches its allow_from "*@c.example" (line 23)')
    assert lines[2] == "file: %s" % p
    settings = {ln.split()[0]: ln for ln in lines[3:]}
    assert settings["host"].endswith('= "localhost"  (defaults, line 3)')
    assert settings["port"].endswith("= %d  (defaults, line 4)" % port)
    assert settings["from"].endswith(
        '= "carol@c.example"  (account, line 22)')
    assert settings["password"].endswith(
        "= (set, hidden)  (defaults, line 10)")
    assert settings["user"].endswith('= "alice"  (defaults, line 9)')
    assert settings["partial_delivery"].endswith(
        "= off  (built-in default)")
    assert settings["aliases"].endswith("(not set)")
    assert servers.users["alice"] not in out + res.stderr
    assert res.stderr == ""
    assert not accept_pending(listener)


def command_conf(servers, name, port, marker):
    """accounts_conf with account b's password replaced by a
    password_command that leaves marker behind when it runs."""
    text = open(accounts_conf(servers, name, port=port)).read()
    old = '\tpassword = %s\n}\naccount c' % harness.conf_quote(
        servers.users["bob"])
    assert old in text
    return write(servers, name, text.replace(
        old, '\tpassword_command = "touch %s; echo pw"\n}\naccount c'
        % marker))


def test_pretend_never_runs_password_command(servers, mailhop, tmp_path,
                                             listener):
    """-a b with a password_command: shown as written, never run."""
    marker = tmp_path / "ran"
    p = command_conf(servers, "pretend-cmd.conf",
                     listener.getsockname()[1], marker)
    res = mailhop.run(["--pretend", "-C", p, "-a", "b"])
    assert res.rc == 0, res
    out = res.stdout.decode()
    assert "chosen by: -a b\n" in out
    assert ('password_command  = "touch %s; echo pw"  (account, line 19)'
            % marker) in out
    # The account's password_command replaces the password of defaults.
    assert "password          (not set)\n" in out
    assert not marker.exists()
    assert not accept_pending(listener)
    # The same account really sending runs it (and fails to log in).
    p = command_conf(servers, "send-cmd.conf", None, marker)
    res = mailhop.send(p, ["x@example.org"], MSG, ["-a", "b"])
    assert res.rc == 77, res
    assert marker.exists()


def test_pretend_reads_From_from_a_pipe(servers, mailhop, listener):
    """Without -a and a matching -f, --pretend reads the header on a
    pipe to choose by From."""
    p = accounts_conf(servers, "pretend-pipe.conf",
                      port=listener.getsockname()[1])
    res = mailhop.run(["--pretend", "-C", p, "-t"],
                      b"From: Bob <bob@b.example>\nTo: x@example.org\n\nhi\n")
    assert res.rc == 0, res
    assert res.stdout.decode().splitlines()[:2] == [
        "account: b",
        'chosen by: the From address bob@b.example matches its from '
        '"bob@b.example" (line 17)']
    assert not accept_pending(listener)


def test_pretend_reads_a_pipe_to_its_end(servers, mailhop, listener):
    """--pretend -a with a large message on a pipe: the writer finishes
    without a broken pipe (set -o pipefail), and the output is the same;
    one a send would refuse (a line of 8 MB) is refused as a send would
    (65), its writer finishing all the same."""
    p = accounts_conf(servers, "pretend-drain.conf",
                      port=listener.getsockname()[1])
    big = ("(printf 'To: x@example.org\\n\\n'; head -c 8000000 /dev/zero "
           "| tr '\\0' x | fold -w 500)")
    for writer, code in ((big, 0), ("head -c 8000000 /dev/zero | tr '\\0' x",
                                    65)):
        cmd = ("set -o pipefail; %s | %s --pretend -C %s -a c -t"
               % (writer, mailhop.path, p))
        proc = servers.popen(["bash", "-c", cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        lines = out.decode().splitlines()
        assert lines[:2] == ["account: c", "chosen by: -a c"]
        if code == 0:
            assert lines[-1] == "recipients: x@example.org", lines
        else:
            assert b"too long for a header field" in err, err
    assert not accept_pending(listener)


def test_pretend_terminal_not_read(servers, mailhop, listener):
    """stdin a terminal, no -a or -f: nothing is read (no wait for
    typing); default_account decides."""
    p = accounts_conf(servers, "pretend-tty.conf",
                      port=listener.getsockname()[1])
    master, slave = os.openpty()
    try:
        proc = servers.popen([mailhop.path, "--pretend", "-C", p, "-t",
                              "y@example.org"],
                             stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=10)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 0, err
    lines = out.decode().splitlines()
    assert lines[:2] == [
        "account: a", "chosen by: default_account (%s, line 1)" % p]
    assert lines[-1] == ("recipients: y@example.org, those in To, Cc and "
                         "Bcc (-t; a terminal is not read)"), lines


def test_pretend_config_error(servers, mailhop):
    """--pretend with a bad config: the usual one line and 78."""
    p = write(servers, "pretend-bad.conf",
              "defaults {\n\tport = 0\n}\naccount a {\n\thost = h\n"
              "\tfrom = a@a.example\n}\n")
    res = mailhop.run(["--pretend", "-C", p])
    check_error_line(res, 78, "%s:2: port: 0 is out of range" % p)
    assert res.stdout == b""


# ------------------------------------------------------- local From


@pytest.mark.parametrize("from_line,want", [
    (b"From: Cron Daemon <root>", b"From: Cron Daemon <carol@c.example>"),
    (b"From: root (Cron Daemon)", b"From: carol@c.example (Cron Daemon)"),
    (b"From: \"Backup, nightly\" <backup@%s>",
     b"From: \"Backup, nightly\" <carol@c.example>"),
    # Not local: kept as written.
    (b"From: Someone <someone@c.example>",
     b"From: Someone <someone@c.example>"),
], ids=["bare-name-addr", "bare-comment", "hostname", "other-domain"])
def test_local_From_rewritten(servers, mailhop, rcpt, conf, from_line,
                              want):
    """A From with no domain or the host's own name becomes the account's
    address, its display name or comment kept; To keeps local_domain."""
    if b"%s" in from_line:
        from_line = from_line % socket.gethostname().encode()
    to = rcpt()
    data = from_line + b"\nTo: root\nSubject: local\n\nbody\n"
    res = mailhop.send(conf, [to], data, ["-a", "c"])
    assert res.rc == 0, res
    _, trace, header, _ = delivered(servers, to)
    froms = [h for h in header if h.lower().startswith(b"from:")]
    assert froms == [want], header
    assert b"To: root@c.example" in header, header
    assert trace["return-path"] == "<carol@c.example>"


@pytest.mark.parametrize("sender", ["root", "root@%s"], ids=["bare",
                                                            "hostname"])
def test_local_envelope_sender_rewritten(servers, mailhop, rcpt, conf,
                                         sender):
    """-f root (cron) or -f root@<this host>: MAIL FROM the account's
    address, which allow_from accepts; the added From likewise."""
    if "%s" in sender:
        sender = sender % socket.gethostname()
    to = rcpt()
    res = mailhop.send(conf, [to], MSG, ["-a", "a", "-f", sender])
    assert res.rc == 0, res
    _, trace, header, user = delivered(servers, to)
    assert trace["return-path"] == "<alice@a.example>"
    assert b"From: alice@a.example" in header, header
    assert user == "alice"
    check_log(servers, res, account="a", from_="alice@a.example")


def test_bs_each_message_chooses(servers, mailhop, rcpt, conf):
    """-bs: each message of the dialogue chooses its account, by its MAIL
    FROM (bob@b.example: b) or, with the null sender, which matches no
    account, by its From field (carol@c.example: c)."""
    to1, to2 = rcpt("one"), rcpt("two")
    dialogue = (
        b"EHLO client.example.org\r\n"
        b"MAIL FROM:<bob@b.example>\r\nRCPT TO:<" + to1.encode() + b">\r\n"
        b"DATA\r\nSubject: one\r\n\r\nx\r\n.\r\n"
        b"MAIL FROM:<>\r\n"
        b"RCPT TO:<" + to2.encode() + b">\r\nDATA\r\n"
        b"From: Carol <carol@c.example>\r\nSubject: two\r\n\r\ny\r\n.\r\n"
        b"QUIT\r\n")
    res = mailhop.run(["-C", conf, "-bs"], dialogue)
    assert res.rc == 0, res
    _, trace, _, user = delivered(servers, to1)
    assert (user, trace["return-path"]) == ("bob", "<bob@b.example>")
    _, trace, header, user = delivered(servers, to2)
    assert user == "alice"
    assert trace["return-path"] == "<>"
    assert b"From: Carol <carol@c.example>" in header
