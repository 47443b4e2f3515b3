# SPDX-License-Identifier: ISC
"""The test servers themselves, driven by Python's smtplib: if these fail,
a mailhop test failing says nothing about mailhop."""

import base64
import hashlib
import hmac
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import uuid

import pytest

import harness


def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.b64encode(b).decode()


def scram_auth(smtp, mech, user, password):
    """A SCRAM-SHA-1/-256 client exchange (RFC 5802) over smtplib;
    returns the final SMTP reply code."""
    hname = "sha256" if mech.endswith("256") else "sha1"

    def h(x):
        return hashlib.new(hname, x).digest()

    def mac(k, m):
        return hmac.new(k, m, hname).digest()

    nonce = b64(os.urandom(18))
    user = user.replace("=", "=3D").replace(",", "=2C")
    first_bare = "n=%s,r=%s" % (user, nonce)
    code, resp = smtp.docmd("AUTH", "%s %s" % (mech, b64("n,," + first_bare)))
    assert code == 334, (code, resp)
    server_first = base64.b64decode(resp).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac(hname, password.encode("utf-8"),
                                 base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = mac(salted, b"Client Key")
    final_bare = "c=%s,r=%s" % (b64("n,,"), attrs["r"])
    auth_msg = ",".join((first_bare, server_first, final_bare)).encode()
    proof = bytes(a ^ b for a, b in zip(client_key,
                                        mac(h(client_key), auth_msg)))
    code, resp = smtp.docmd(b64(final_bare + ",p=" + b64(proof)))
    if code != 334:
        return code
    server_final = base64.b64decode(resp).decode()
    want = mac(mac(salted, b"Server Key"), auth_msg)
    assert server_final == "v=" + b64(want)
    code, resp = smtp.docmd("")
    return code


def message(subject, to):
    return ("From: alice@example.org\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@test>\r\n\r\nbody line\r\n.dot line\r\n"
            % (to, subject, uuid.uuid4().hex)).encode()


def submission(servers):
    s = smtplib.SMTP("localhost", servers.ports["submission"], timeout=10)
    s.ehlo("client.test")
    return s


def starttls(servers):
    s = submission(servers)
    s.starttls(context=servers.tls_context())
    s.ehlo("client.test")
    return s


def test_submission_offers_starttls_and_auth_only_after_it(servers):
    s = submission(servers)
    assert s.has_extn("starttls")
    assert not s.has_extn("auth")
    for ext in ("pipelining", "chunking", "8bitmime", "size", "dsn"):
        assert s.has_extn(ext), ext
    s.starttls(context=servers.tls_context())
    s.ehlo("client.test")
    mechs = set(s.esmtp_features["auth"].upper().split())
    assert {"PLAIN", "LOGIN", "SCRAM-SHA-1", "SCRAM-SHA-256"} <= mechs
    s.quit()


def test_submission_refuses_relay_without_auth(servers, rcpt):
    s = starttls(servers)
    s.mail("alice@example.org")
    code, _ = s.rcpt(rcpt())
    assert code >= 500
    s.quit()


def plain_login_auth(smtp, mech, user, password):
    """AUTH PLAIN or LOGIN with UTF-8 credentials (smtplib's own encodes
    them as ASCII); returns the final reply code."""
    if mech == "PLAIN":
        return smtp.docmd("AUTH", "PLAIN " + b64("\0%s\0%s" % (
            user, password)))[0]
    code, _ = smtp.docmd("AUTH", "LOGIN " + b64(user))
    assert code == 334
    return smtp.docmd(b64(password))[0]


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_submission_plain_login(servers, rcpt, user, mech):
    to = rcpt()
    s = starttls(servers)
    assert plain_login_auth(s, mech, user, servers.users[user]) == 235
    s.sendmail("%s@example.org" % user, [to], message(mech, to))
    s.quit()
    raw = servers.wait_for_delivery(to)[0]
    assert servers.smtpd_sasl_method(raw) == (mech, user)


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_submission_scram(servers, rcpt, user, mech):
    to = rcpt()
    s = starttls(servers)
    assert scram_auth(s, mech, user, servers.users[user]) == 235
    s.sendmail("%s@example.org" % user, [to], message(mech, to))
    s.quit()
    raw = servers.wait_for_delivery(to)[0]
    assert servers.smtpd_sasl_method(raw) == (mech, user)


def test_wrong_password_refused(servers):
    s = starttls(servers)
    assert plain_login_auth(s, "PLAIN", "alice", "not-the-password") == 535
    assert plain_login_auth(s, "LOGIN", "bob", "s3cr et") == 535
    assert scram_auth(s, "SCRAM-SHA-256", "bob", "s3cr et") == 535
    s.quit()


def test_implicit_tls_verifies_with_test_ca_only(servers, rcpt):
    to = rcpt()
    s = smtplib.SMTP_SSL("localhost", servers.ports["smtps"], timeout=10,
                         context=servers.tls_context())
    s.ehlo("client.test")
    assert "SCRAM-SHA-256" in s.esmtp_features["auth"].upper()
    s.login("alice", servers.users["alice"])
    s.sendmail("alice@example.org", [to], message("smtps", to))
    s.quit()
    raw = servers.wait_for_delivery(to)[0]
    trace, _ = harness.split_trace(raw)
    assert "ESMTPSA" in trace["received"] and "TLS" in trace["received"]
    other = ssl.create_default_context(cafile=servers.other_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL("localhost", servers.ports["smtps"], timeout=10,
                         context=other)
    sock = socket.create_connection(("127.0.0.1", servers.ports["smtps"]),
                                    10)
    with pytest.raises(ssl.SSLCertVerificationError):
        servers.tls_context().wrap_socket(sock,
                                          server_hostname="wrong.example")
    sock.close()


def test_plain_port_delivers_to_maildir_with_envelope(servers, rcpt):
    to1, to2 = rcpt("one"), rcpt("two", "other.test")
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    s.ehlo("client.test")
    assert not s.has_extn("starttls") and not s.has_extn("auth")
    data = message("plain", to1)
    s.sendmail("sender@example.net", [to1, to2], data)
    s.quit()
    for to in (to1, to2):
        msgs = servers.wait_for_delivery(to)
        assert len(msgs) == 1
        trace, rest = harness.split_trace(msgs[0])
        assert trace["return-path"] == "<sender@example.net>"
        assert trace["delivered-to"] == to
        assert trace["x-original-to"] == to
        assert rest == data.replace(b"\r\n", b"\n")


def test_recipient_knobs(servers, rcpt):
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    s.ehlo("client.test")
    s.mail("alice@example.org")
    assert s.rcpt("reject@example.org")[0] // 100 == 5
    assert s.rcpt("tempfail@example.org")[0] // 100 == 4
    assert s.rcpt(rcpt())[0] == 250
    s.rset()
    s.quit()


def test_bare_lf_in_data_is_refused(servers, rcpt):
    """The server refuses bare LF, so the tests catch a client sending
    one."""
    to = rcpt()
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    s.ehlo("client.test")
    s.mail("alice@example.org")
    s.rcpt(to)
    s.putcmd("DATA")
    assert s.getreply()[0] == 354
    s.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
    assert s.getreply()[0] // 100 == 5
    s.close()
    servers.assert_nothing_delivered(to)


def test_closed_port_refuses(servers):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", servers.ports["closed"]), 5)


PROBE = """\
import sys, syslog
tag = sys.argv[1]
syslog.openlog("harness-probe", syslog.LOG_PID, syslog.LOG_MAIL)
syslog.syslog(syslog.LOG_INFO, "probe mail %s" % tag)
syslog.openlog("harness-probe", syslog.LOG_PID, syslog.LOG_USER)
syslog.syslog(syslog.LOG_INFO, "probe user %s" % tag)
syslog.closelog()
"""


def test_syslog_mail_facility_reaches_file(servers):
    """glibc syslog(3), as mailhop uses it, from a program run the way the
    tests run mailhop (servers.popen)."""
    tag = uuid.uuid4().hex
    p = servers.popen([sys.executable, "-c", PROBE, tag],
                      stdin=subprocess.DEVNULL)
    assert p.wait(30) == 0
    line = servers.wait_syslog("probe mail %s" % tag)
    assert "harness-probe[%d]:" % p.pid in line
    assert not any("probe user %s" % tag in ln
                   for ln in servers.syslog_lines())


# Says what it got; exits 75.
SELF_REPORT = """\
import json, os, sys
st = os.stat("/dev/log")
json.dump({"pid": os.getpid(), "env": dict(os.environ),
           "stdin": sys.stdin.buffer.read().hex(),
           "devlog": [st.st_dev, st.st_ino]}, sys.stdout)
sys.stderr.write("to stderr\\n")
sys.exit(75)
"""


@pytest.mark.parametrize("pwd", [None, "/no such dir"])
def test_popen_runs_the_program_as_is(servers, pwd):
    """What servers.popen runs is the program itself: its pid, its
    environment and nothing more (a shell in between would set PWD), its
    stdin, stdout, stderr and exit status; and the /dev/log it sees is the
    harness rsyslogd's socket (through a bind mount in a private mount
    namespace when /dev/log is another daemon's)."""
    env = {"ONLY": "this", "PATH": "/usr/bin:/bin"}
    if pwd is not None:
        env["PWD"] = pwd
    data = bytes(range(256)) * 4
    p = servers.popen([sys.executable, "-c", SELF_REPORT], env=env,
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    out, err = p.communicate(data, 30)
    assert (p.returncode, err) == (75, b"to stderr\n")
    got = json.loads(out)
    assert got["pid"] == p.pid
    assert {k: v for k, v in got["env"].items()
            if k != "LC_CTYPE"} == env  # Python may set LC_CTYPE
    assert bytes.fromhex(got["stdin"]) == data
    st = os.stat(servers.syslog_socket)
    assert got["devlog"] == [st.st_dev, st.st_ino]


def test_postfix_drops_return_path_fields(servers, rcpt):
    """Postfix's cleanup(8) removes Return-Path fields a client sends (the
    delivery agent writes its own); mailmodel.py accounts for this."""
    to = rcpt()
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    data = (b"Return-Path: <other@example.net>\r\nSubject: rp\r\n"
            b"X-Kept: yes\r\n\r\nReturn-Path: in the body stays\r\n")
    s.sendmail("sender@example.net", [to], data)
    s.quit()
    trace, rest = harness.split_trace(servers.wait_for_delivery(to)[0])
    assert trace["return-path"] == "<sender@example.net>"
    assert rest == (b"Subject: rp\nX-Kept: yes\n\n"
                    b"Return-Path: in the body stays\n")


def test_wrongname_listener_is_only_wrong_by_name(servers):
    """The 127.0.0.2 listener works (the certificate verifies as
    "localhost") but fails verification for its own address."""
    def handshake(name):
        s = smtplib.SMTP(harness.WRONGNAME_ADDR, servers.ports["wrongname"],
                         timeout=10)
        s.ehlo("client.test")
        s.putcmd("STARTTLS")
        assert s.getreply()[0] == 220
        try:
            servers.tls_context().wrap_socket(s.sock, server_hostname=name)
        finally:
            s.close()
    handshake("localhost")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(harness.WRONGNAME_ADDR)


def test_silent_port_accepts_and_says_nothing(servers):
    with socket.create_connection(("127.0.0.1", servers.ports["silent"]),
                                  5) as s:
        s.settimeout(0.5)
        with pytest.raises(socket.timeout):
            s.recv(1)


def test_postfix_stop_and_start_keep_maildirs(servers, rcpt):
    """postfix_stop(): Postfix's master is gone and every listener refuses;
    the Maildirs stay.  postfix_start(): the same ports greet again and
    deliver."""
    before, after = rcpt("before"), rcpt("after")
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    s.sendmail("alice@example.org", [before], message("before", before))
    s.quit()
    assert len(servers.wait_for_delivery(before)) == 1
    with servers.postfix_stopped():
        assert not servers.postfix_running()
        for name, addr, port in servers._listeners():
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((addr, port), 2).close()
        assert len(servers.maildir_messages(before)) == 1
    assert servers.postfix_running()
    s = smtplib.SMTP("127.0.0.1", servers.ports["plain"], timeout=10)
    s.sendmail("alice@example.org", [after], message("after", after))
    s.quit()
    assert len(servers.wait_for_delivery(after)) == 1
    assert len(servers.maildir_messages(before)) == 1


@pytest.mark.parametrize("limit", [None, 60 * 1024 * 1024])
def test_message_size_limit_option(tmp_path, limit):
    """Harness(message_size_limit=N), which make bench uses for its 50 MiB
    message, reaches Postfix as both limits; without it Postfix keeps its
    defaults.  postconf reads the main.cf the harness would write."""
    h = harness.Harness(base=str(tmp_path), message_size_limit=limit)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "main.cf").write_text(h._postfix_main_cf())
    out = subprocess.run(
        ["postconf", "-c", str(etc), "message_size_limit",
         "virtual_mailbox_limit"], capture_output=True, text=True,
        check=True).stdout
    want = ((10240000, 51200000) if limit is None else (limit, limit))
    assert out.split("\n")[:2] == [
        "message_size_limit = %d" % want[0],
        "virtual_mailbox_limit = %d" % want[1]]
