# SPDX-License-Identifier: ISC
"""The fault server (tests/faultserver.py) does what its scenarios say,
checked with Python's smtplib and raw sockets, so that a broken fault
server shows up here and not as a mysterious security test result."""

import base64
import smtplib
import socket
import ssl
import time
import warnings

import pytest

from conftest_fault import *  # noqa: F401,F403
from faultserver import (Close, Drip, Reset, Scenario, Seq, Sleep,
                         Stall)


def client_ctx(servers, sni=True):
    ctx = ssl.create_default_context(cafile=servers.ca_file)
    if not sni:
        ctx.check_hostname = False
    return ctx


def test_happy_path_starttls_auth_and_recording(servers, fault):
    srv = fault(Scenario(user="alice", password="pw"))
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls") and not c.has_extn("auth")
        c.starttls(context=client_ctx(servers))
        c.ehlo("client.test")
        assert c.has_extn("auth") and not c.has_extn("starttls")
        c.login("alice", "pw")
        c.sendmail("a@example.org", ["b@example.org"],
                   b"Subject: x\r\n\r\n.dot\r\nbody\r\n")
    assert srv.wait_idle()
    s = srv.sessions[0]
    assert bytes(s.pre) == b"ehlo client.test\r\nSTARTTLS\r\n"
    assert s.post.startswith(b"ehlo client.test\r\nAUTH ")
    assert b"mail FROM:<a@example.org>" in s.post
    assert s.tls_version in ("TLSv1.3", "TLSv1.2")
    assert s.messages == [b"Subject: x\r\n\r\n..dot\r\nbody\r\n"]
    assert s.auth_ok and srv.connections == 1
    assert s.verbs("tls")[-1] == "QUIT"


def test_sni_recorded(servers, fault):
    srv = fault(Scenario())
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as c:
        c.starttls(context=client_ctx(servers))
    # smtplib sends the host it connected to; an IP literal gets no SNI
    assert srv.wait_idle()
    assert srv.sessions[0].sni is None and srv.sessions[0].sni_seen
    srv = fault(Scenario())
    with smtplib.SMTP("localhost", srv.port, timeout=5) as c:
        c.starttls(context=client_ctx(servers))
    assert srv.wait_idle()
    assert srv.sessions[0].sni == "localhost"
    assert srv.sessions[0].sni_hello == "localhost"


def test_wrong_password_and_login_and_scram_refusal(fault):
    srv = fault(Scenario(user="alice", password="pw", ehlo_tls=[
        "AUTH LOGIN PLAIN"], tls="none", ehlo=["AUTH LOGIN PLAIN"]))
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=5) as c:
        c.ehlo()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("alice", "wrong")
        c.user, c.password = "alice", "pw"
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235
    assert srv.wait_idle()
    mechs = [m for m, _ in srv.sessions[0].auth]
    assert mechs[-1] == "LOGIN"
    assert srv.sessions[0].auth[-1][1] == [b"alice", b"pw"]


def test_overrides_multiline_seq_and_injection(fault):
    srv = fault(Scenario(tls="none", replies={
        "MAIL": Seq("451 4.3.0 first", "250-one\n250 two"),
        "NOOP": b"250 ok\r\n250 injected\r\n"}))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"220 ")
        s.sendall(b"MAIL FROM:<a@b>\r\n")
        assert f.readline() == b"451 4.3.0 first\r\n"
        s.sendall(b"MAIL FROM:<a@b>\r\n")
        assert f.readline() == b"250-one\r\n"
        assert f.readline() == b"250 two\r\n"
        s.sendall(b"NOOP\r\n")
        time.sleep(0.2)
        # one write: both lines arrive in one segment
        assert s.recv(4096) == b"250 ok\r\n250 injected\r\n"
        s.sendall(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n")
        assert f.readline() == b"250-one\r\n"
        f.close()
    assert srv.wait_idle()
    cmds = srv.sessions[0].commands
    assert [c[2] for c in cmds[-2:]] == [True, False]  # pipelining seen


def test_delayed_injection_is_a_second_segment(fault):
    srv = fault(Scenario(tls="none", replies={
        "NOOP": [b"250 ok\r\n", Sleep(0.3), b"250 late\r\n", Close()]}))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        s.recv(4096)
        s.sendall(b"NOOP\r\n")
        assert s.recv(4096) == b"250 ok\r\n"
        assert s.recv(4096) == b"250 late\r\n"
        assert s.recv(4096) == b""


def test_drip_close_reset_stall(fault):
    srv = fault(Scenario(tls="none", greeting=Drip(b"220 x\r\n", 0.05)))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        t = time.monotonic()
        f = s.makefile("rb")
        assert f.readline() == b"220 x\r\n"
        assert time.monotonic() - t > 0.25
    srv = fault(Scenario(tls="none", greeting=Reset()))
    with pytest.raises(ConnectionResetError):
        # the RST may come before connect() returns
        with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
            s.recv(10)
            s.recv(10)
    srv = fault(Scenario(tls="none", greeting=Stall()))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(10)
    assert srv.wait_idle()  # the client's close ends the stall


def test_implicit_tls_and_certificate_choice(servers, fault, fault_pki):
    srv = fault(Scenario(tls="implicit"))
    with smtplib.SMTP_SSL("localhost", srv.port, timeout=5,
                          context=client_ctx(servers)) as c:
        assert c.ehlo()[0] == 250
    srv = fault(Scenario(tls="implicit", cert=fault_pki.cert("expired")))
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        smtplib.SMTP_SSL("localhost", srv.port, timeout=5,
                         context=client_ctx(servers))
    assert srv.wait_idle()
    assert srv.sessions[0].tls_error and not srv.sessions[0].post


def test_scram_server_against_a_reference_client(fault):
    """The SCRAM-SHA-256 server side, checked with RFC 7677's example
    exchange rebuilt by hand (a client written here, independent of the
    server class's code paths)."""
    import hashlib
    import hmac
    srv = fault(Scenario(tls="none", ehlo=["AUTH SCRAM-SHA-256"],
                         user="user", password="pencil"))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        f = s.makefile("rb")
        f.readline()
        cnonce = "rOprNGfwEbeRWgbNEkqO"
        first_bare = "n=user,r=" + cnonce
        s.sendall(b"AUTH SCRAM-SHA-256 " + base64.b64encode(
            ("n,," + first_bare).encode()) + b"\r\n")
        line = f.readline()
        assert line.startswith(b"334 ")
        sfirst = base64.b64decode(line[4:].strip()).decode()
        a = dict(x.split("=", 1) for x in sfirst.split(","))
        salted = hashlib.pbkdf2_hmac("sha256", b"pencil",
                                     base64.b64decode(a["s"]), int(a["i"]))
        without = "c=biws,r=" + a["r"]
        msg = ",".join([first_bare, sfirst, without]).encode()
        ckey = hmac.new(salted, b"Client Key", "sha256").digest()
        sig = hmac.new(hashlib.sha256(ckey).digest(), msg, "sha256").digest()
        proof = base64.b64encode(bytes(x ^ y for x, y in zip(ckey, sig)))
        s.sendall(base64.b64encode(without.encode() + b",p=" + proof)
                  + b"\r\n")
        line = f.readline()
        v = base64.b64decode(line[4:].strip()).decode()
        skey = hmac.new(salted, b"Server Key", "sha256").digest()
        assert v == "v=" + base64.b64encode(
            hmac.new(skey, msg, "sha256").digest()).decode()
        s.sendall(b"\r\n")
        assert f.readline().startswith(b"235 ")


def test_connection_count_and_self_stop(fault):
    srv = fault(Scenario(tls="none", read_timeout=0.5), lifetime=1.5)
    for _ in range(3):
        socket.create_connection(("127.0.0.1", srv.port), 5).close()
    assert srv.wait_idle(connections=3)
    assert srv.connections == 3
    # an idle client is dropped after read_timeout
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        s.settimeout(3)
        s.recv(100)
        assert s.recv(100) == b""
    t = time.monotonic()
    srv._stopped.wait(5)
    assert srv._stopped.is_set() and time.monotonic() - t < 5


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_tls_versions_really_offered(servers, fault, version):
    """The S16 servers do speak TLS 1.0 and 1.1 to a client that offers
    them: a refusal in S16 is the client's."""
    v = getattr(ssl.TLSVersion, version)
    srv = fault(Scenario(tls="implicit", tls_versions=(v, v),
                         ciphers="DEFAULT:@SECLEVEL=0"))
    ctx = client_ctx(servers)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = v
    with smtplib.SMTP_SSL("localhost", srv.port, timeout=5,
                          context=ctx) as c:
        assert c.ehlo()[0] == 250
        assert c.sock.version() == version.replace("_", ".")


def test_bdat_chunks_make_one_message(fault):
    """BDAT size [LAST] (RFC 3030): the chunks are taken byte-exact and
    make one message; a "DOT" override answers BDAT LAST."""
    srv = fault(Scenario(tls="none", ehlo=["PIPELINING", "CHUNKING"],
                         replies={"DOT": "452 4.3.1 held"}))
    with socket.create_connection(("127.0.0.1", srv.port), 5) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"
                  b"BDAT 7\r\nhel\r\nlo"
                  b"BDAT 6 LAST\r\n.\r\nx\r\n")
        replies = [f.readline() for _ in range(3 + 2 + 2)]
        s.sendall(b"QUIT\r\n")
        f.readline()
    assert replies[-2].startswith(b"250 2.0.0 7 octets"), replies
    assert replies[-1] == b"452 4.3.1 held\r\n", replies
    assert srv.wait_idle()
    assert srv.sessions[0].messages == [b"hel\r\nlo.\r\nx\r\n"]
    assert srv.sessions[0].verbs().count("BDAT") == 2
