# SPDX-License-Identifier: ISC
"""security.md S24: AUTH XOAUTH2 and OAUTHBEARER (RFC 7628), whose framing
is mailhop's own (libgsasl 2.2 has neither).  The fault server checks the
exact bytes of the AUTH command, plays the OAUTHBEARER error exchange (a
334 with a base64 JSON error, answered by AQ==, then 535), and each test
checks that the bearer token never shows in stderr, the -v transcript or
the syslog line."""

import base64
import json

import pytest

import harness
from conftest_fault import *  # noqa: F401,F403
from faultserver import Scenario
from mailmodel import check_error_line

MESSAGE = b"From: alice@example.org\nSubject: oauth test\n\nbody\n"
RCPT = "bob@example.org"
# A bearer token of the usual shape (RFC 6750 b64token characters).
TOKEN = "ya29.a0Af-TOKEN_s3cr3t~value+with/slash=="
ERROR_JSON = {"status": "invalid_token", "scope": "mail",
              "openid-configuration":
              "https://auth.example.org/.well-known/openid-configuration"}


def offer(mechs, **kw):
    return Scenario(ehlo_tls=["PIPELINING", "AUTH " + mechs], **kw)


def token_conf(fault_conf, srv, tmp_path, mech, token=TOKEN, **kw):
    """A config whose token comes from password_command."""
    f = tmp_path / "token"
    f.write_text(token + "\n")
    return fault_conf(srv, user=None, auth=mech, extra={
        "user": '"alice"',
        "password_command": harness.conf_quote("cat %s" % f)}, **kw)


def send(mailhop, conf, srv, args=()):
    res = mailhop.run(["-C", conf] + list(args) + ["--", RCPT], MESSAGE)
    assert srv.wait_idle(5), srv.sessions
    assert srv.connections == 1, srv.sessions
    return res, srv.sessions[0]


def auth_line(s):
    lines = [c[1] for c in s.commands if c[1].upper().startswith(b"AUTH")]
    assert len(lines) == 1, s.commands
    return lines[0]


def token_forms(s):
    """The token, and everything the client sent inside AUTH, raw and
    decoded."""
    forms = {TOKEN, base64.b64encode(TOKEN.encode()).decode()}
    line = auth_line(s).decode("latin-1")
    forms.add(line.split(" ", 2)[2])
    forms.add(base64.b64decode(line.split(" ", 2)[2]).decode("latin-1"))
    return forms


def assert_token_hidden(servers, res, s):
    log = servers.mailhop_syslog(res.pid)
    for f in token_forms(s):
        assert f not in res.stderr, (f, res.stderr)
        assert f not in log, (f, log)
    # No piece of it either (the part after "ya29.").
    assert "s3cr3t" not in res.stderr and "s3cr3t" not in log


def test_S24_xoauth2_initial_response(servers, mailhop, fault, fault_conf,
                                      tmp_path):
    srv = fault(offer("PLAIN XOAUTH2",
                      replies={"AUTH": "235 2.7.0 Accepted"}))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "xoauth2"),
                  srv, ["-v"])
    assert res.rc == 0, res
    want = base64.b64encode(b"user=alice\x01auth=Bearer " + TOKEN.encode()
                            + b"\x01\x01")
    assert auth_line(s) == b"AUTH XOAUTH2 " + want
    assert s.messages, s
    assert "AUTH XOAUTH2 <redacted, %d bytes>" % len(want) in res.stderr
    assert_token_hidden(servers, res, s)
    assert "auth=XOAUTH2" in servers.mailhop_syslog(res.pid)


def test_S24_oauthbearer_initial_response(servers, mailhop, fault,
                                          fault_conf, tmp_path):
    srv = fault(offer("OAUTHBEARER SCRAM-SHA-256",
                      replies={"AUTH": "235 2.7.0 Accepted"}))
    res, s = send(mailhop,
                  token_conf(fault_conf, srv, tmp_path, "oauthbearer"),
                  srv, ["-v"])
    assert res.rc == 0, res
    want = (b"n,a=alice,\x01host=localhost\x01port=%d\x01auth=Bearer %s"
            b"\x01\x01" % (srv.port, TOKEN.encode()))
    assert auth_line(s) == b"AUTH OAUTHBEARER " + base64.b64encode(want)
    assert s.messages, s
    assert "AUTH OAUTHBEARER <redacted, %d bytes>" % len(
        base64.b64encode(want)) in res.stderr
    assert_token_hidden(servers, res, s)


@pytest.mark.parametrize("size", [2000, 12000])
def test_S24_long_token(mailhop, fault, fault_conf, tmp_path, size):
    """Provider tokens run to a few KiB (JWTs): the AUTH line carries the
    whole of it, unbroken (RFC 4954 allows 12288 octets for AUTH)."""
    token = ("eyJ0eXAiOiJKV1Qi." + "A" * size)[:size]
    srv = fault(offer("XOAUTH2", replies={"AUTH": "235 2.7.0 ok"}))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "xoauth2",
                                      token=token), srv)
    assert res.rc == 0, res
    want = base64.b64encode(b"user=alice\x01auth=Bearer " + token.encode()
                            + b"\x01\x01")
    assert auth_line(s) == b"AUTH XOAUTH2 " + want
    assert s.messages


def test_S24_oauthbearer_user_escaped(mailhop, fault, fault_conf, tmp_path):
    """RFC 5801 5.1: "," and "=" in the authzid are =2C and =3D."""
    srv = fault(offer("OAUTHBEARER", replies={"AUTH": "235 2.7.0 ok"}))
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    conf = fault_conf(srv, user=None, auth="oauthbearer", extra={
        "user": '"a,b=c@example.org"',
        "password_command": harness.conf_quote("cat %s" % f)})
    res, s = send(mailhop, conf, srv)
    assert res.rc == 0, res
    got = base64.b64decode(auth_line(s).split(b" ")[2])
    assert got.startswith(b"n,a=a=2Cb=3Dc@example.org,\x01host=")


def error_scenario(mech):
    challenge = base64.b64encode(json.dumps(ERROR_JSON).encode()).decode()
    return offer(mech, replies={
        "AUTH": "334 " + challenge,
        "AUTH_RESPONSE": "535 5.7.8 Authentication credentials invalid"})


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "-v"])
def test_S24_oauthbearer_error_exchange(servers, mailhop, fault, fault_conf,
                                        tmp_path, verbose):
    """RFC 7628 3.2.2-3.2.3: the server's error challenge is answered with
    the single byte 0x01 (AQ==); its 535 ends it: exit 77 with the
    server's reason, no mail, the token nowhere."""
    srv = fault(error_scenario("OAUTHBEARER"))
    res, s = send(mailhop,
                  token_conf(fault_conf, srv, tmp_path, "oauthbearer"),
                  srv, ["-v"] if verbose else [])
    assert s.auth_raw == [b"AQ=="], s.auth_raw
    assert s.verbs("tls").count("AUTH") == 1
    assert not {"MAIL", "RCPT", "DATA"} & set(s.verbs()), s
    assert res.rc == 77, res
    if verbose:
        assert "--> <redacted, 4 bytes>" in res.stderr   # the AQ==
        last = res.stderr.splitlines()[-1]
    else:
        last = check_error_line(res, 77)
    for w in ("authentication failed", "invalid_token", "535"):
        assert w in last, (w, last)
    assert_token_hidden(servers, res, s)
    log = servers.mailhop_syslog(res.pid)
    assert "status=refused" in log and "exit=77" in log, log


def test_S24_xoauth2_error_exchange(servers, mailhop, fault, fault_conf,
                                    tmp_path):
    """XOAUTH2 (Google's): the error challenge gets an empty answer."""
    srv = fault(error_scenario("XOAUTH2"))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "xoauth2"),
                  srv)
    assert s.auth_raw == [b""], s.auth_raw
    check_error_line(res, 77, "invalid_token", "535")
    assert not {"MAIL", "RCPT", "DATA"} & set(s.verbs()), s
    assert_token_hidden(servers, res, s)


def test_S24_second_error_challenge_cancels(mailhop, fault, fault_conf,
                                            tmp_path):
    """Only one error challenge is part of the exchange: a second 334 is
    cancelled with "*" and the session ends (76)."""
    challenge = base64.b64encode(json.dumps(ERROR_JSON).encode()).decode()
    srv = fault(offer("OAUTHBEARER", replies={
        "AUTH": "334 " + challenge, "AUTH_RESPONSE": "334 " + challenge}))
    res, s = send(mailhop,
                  token_conf(fault_conf, srv, tmp_path, "oauthbearer"), srv)
    assert s.auth_raw == [b"AQ==", b"*"], s.auth_raw
    check_error_line(res, 76, "extra AUTH")
    assert not {"MAIL", "RCPT", "DATA"} & set(s.verbs()), s


def test_S24_mechanism_not_offered(mailhop, fault, fault_conf, tmp_path):
    srv = fault(offer("PLAIN LOGIN"))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "xoauth2"),
                  srv)
    check_error_line(res, 69, "does not offer AUTH XOAUTH2")
    assert "AUTH" not in s.verbs(), s


def test_S24_auth_on_never_picks_oauth(mailhop, fault, fault_conf,
                                       tmp_path):
    """auth = on chooses among password mechanisms only: a password is
    not a bearer token."""
    srv = fault(offer("XOAUTH2 OAUTHBEARER"))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "on"), srv)
    check_error_line(res, 69, "no usable mechanism")
    assert "AUTH" not in s.verbs(), s


@pytest.mark.parametrize("token", ["pass word", "pa\u00dfword", "tok\"en"],
                         ids=["space", "8bit", "quote"])
def test_S24_not_a_bearer_token(servers, mailhop, fault, fault_conf,
                                tmp_path, token):
    """What is not an RFC 6750 b64token is refused before AUTH (78), and
    not shown."""
    srv = fault(offer("XOAUTH2", replies={"AUTH": "235 2.7.0 ok"}))
    res, s = send(mailhop, token_conf(fault_conf, srv, tmp_path, "xoauth2",
                                      token=token), srv)
    check_error_line(res, 78, "not an OAuth bearer token")
    assert "AUTH" not in s.verbs(), s
    assert token not in res.stderr
    assert token not in servers.mailhop_syslog(res.pid)


def test_S24_oauth_needs_tls(mailhop, fault_conf, fault, tmp_path):
    """OAuth only over verified TLS: tls = off with auth = xoauth2 is a
    configuration error, and nothing connects."""
    srv = fault(Scenario(tls="none"))
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    conf = fault_conf(srv, user=None, auth="xoauth2", extra={
        "user": '"alice"',
        "password_command": harness.conf_quote("cat %s" % f)})
    res = mailhop.run(["-C", conf, "--", RCPT], MESSAGE)
    check_error_line(res, 78, "tls")
    assert srv.connections == 0
