# SPDX-License-Identifier: ISC
"""The trust and TLS-setting rows of ../shared/security.md that need
configuration keys: S17 (tls_pin), S20 (no session cache), S16's user
priority string (tls_priorities), client certificates with AUTH EXTERNAL.
Each test asserts what the server saw, mailhop's exit code and its one
stderr line; the happy paths run against the real Postfix too."""

import base64
import hashlib
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

import test_security as ts
from conftest_fault import *  # noqa: F401,F403
from harness import split_trace
from mailmodel import check_arrival, check_error_line, check_ok


def der_len(der, i):
    """(length, offset of the contents) of the DER TLV whose length
    octets start at i."""
    n = der[i]
    if n < 0x80:
        return n, i + 1
    k = n & 0x7f
    return int.from_bytes(der[i + 1:i + 1 + k], "big"), i + 1 + k


def spki_pin(certfile):
    """The pin of the first certificate in certfile, computed here by
    walking the DER (not by GnuTLS, which mailhop uses): sha256// and the
    base64 of the SHA-256 of its SubjectPublicKeyInfo."""
    with open(certfile) as f:
        pem = f.read()
    der = ssl.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE"
                                                   "-----") + 25])
    _, i = der_len(der, 1)            # Certificate
    _, i = der_len(der, i + 1)        # tbsCertificate
    fields = []
    while len(fields) < 7:
        start = i
        n, body = der_len(der, i + 1)
        fields.append(der[start:body + n])
        i = body + n
    if fields[0][0] != 0xa0:          # no explicit version
        fields.insert(0, b"")
    spki = fields[6]
    assert spki[0] == 0x30
    return "sha256//" + base64.b64encode(hashlib.sha256(spki).digest()) \
        .decode()


def off_by_one(pin):
    raw = bytearray(base64.b64decode(pin[len("sha256//"):]))
    raw[5] ^= 0x01
    return "sha256//" + base64.b64encode(bytes(raw)).decode()


def q(s):
    return '"%s"' % s


def check_config_error(res, path, key, *words, cross=False):
    """Exit 78 and one line "FILE:LINE: KEY: ..." naming key's line (for
    an error across keys, cross: "FILE:LINE: account NAME: ...")."""
    with open(path) as f:
        n = [i + 1 for i, ln in enumerate(f)
             if ln.strip().startswith(key + " ")][0]
    head = "account test" if cross else key
    return check_error_line(res, 78, "%s:%d: %s: " % (path, n, head),
                            *words)


# ---------------------------------------------------------------- S17


def test_S17_pin_trusts_a_self_signed_server(mailhop, fault, fault_conf,
                                             fault_pki):
    cert = fault_pki.cert("self-signed")
    srv = fault(ts.sc(cert=cert))
    res = ts.run(mailhop, fault_conf, srv, ca_file=None,
                 extra={"tls_pin": q(spki_pin(cert[0]))})
    assert res.rc == 0 and res.stderr == "", res
    s = ts.only(srv)
    assert s.tls_version and s.auth_ok and len(s.messages) == 1, s


def test_S17_pin_one_bit_off_is_refused(mailhop, fault, fault_conf,
                                        fault_pki):
    cert = fault_pki.cert("self-signed")
    good = spki_pin(cert[0])
    bad = off_by_one(good)
    srv = fault(ts.sc(cert=cert))
    res = ts.run(mailhop, fault_conf, srv, ca_file=None,
                 extra={"tls_pin": q(bad)})
    line = check_error_line(res, 69, "key of localhost does not match "
                            "tls_pin; this may be an attack: confirm a new "
                            "key with the server's operator",
                            "the server showed the key " + good, bad)
    # the key seen is no line to paste: it may be the attacker's (R2)
    assert 'tls_pin = "' not in line and "write tls_pin" not in line
    s = ts.only(srv)
    assert s.tls_version is None and not s.post, s
    ts.assert_nothing_sent(s)


def test_S17_pin_replaces_the_chain_check(mailhop, fault, fault_conf,
                                          fault_pki):
    """A certificate the CA file would accept is refused when the pin
    names another key: with tls_pin, the key alone decides."""
    other = spki_pin(fault_pki.cert("self-signed")[0])
    srv = fault(ts.sc())          # the harness CA's good certificate
    res = ts.run(mailhop, fault_conf, srv, extra={"tls_pin": q(other)})
    check_error_line(res, 69, "does not match tls_pin", other)
    ts.assert_nothing_sent(ts.only(srv))


def test_S17_pin_list_for_a_key_rollover(mailhop, fault, fault_conf,
                                         fault_pki):
    cert = fault_pki.cert("self-signed")
    pins = "%s; %s" % (off_by_one(spki_pin(cert[0])), spki_pin(cert[0]))
    srv = fault(ts.sc(cert=cert))
    res = ts.run(mailhop, fault_conf, srv, ca_file=None,
                 extra={"tls_pin": q(pins)})
    check_ok(res)
    assert len(ts.only(srv).messages) == 1


def test_S17_pinned_key_needs_no_name_match(mailhop_hosts, fault,
                                            fault_conf, fault_pki):
    """Decision (mailhop.conf(5)): the pinned key is the identity, as a
    DANE-EE record is (RFC 7671 5.1), so the certificate's names and
    dates are not checked.  The self-signed certificate names localhost
    and 127.0.0.1; the account says mail.example.org."""
    cert = fault_pki.cert("self-signed")
    srv = fault(ts.sc(cert=cert))
    res = ts.run(mailhop_hosts, fault_conf, srv, ca_file=None,
                 host="mail.example.org",
                 extra={"tls_pin": q(spki_pin(cert[0]))})
    check_ok(res)
    s = ts.only(srv)
    assert s.sni == "mail.example.org" and len(s.messages) == 1


def test_S17_expired_pinned_certificate(mailhop, fault, fault_conf,
                                        fault_pki):
    cert = fault_pki.cert("expired")
    srv = fault(ts.sc(cert=cert))
    res = ts.run(mailhop, fault_conf, srv, ca_file=None,
                 extra={"tls_pin": q(spki_pin(cert[0]))})
    check_ok(res)


@pytest.mark.parametrize("value,word", [
    ("sha256//abc", "is not a pin"),
    ("sha1//" + "A" * 44, "is not a pin"),
    ("sha256//" + "A" * 43 + "*", "is not a pin"),
    ("", "empty"),
    (" ; ", "empty"),
])
def test_S17_pin_syntax_is_checked(mailhop, fault, fault_conf, value,
                                   word):
    """Refused when the configuration is read: no connection at all."""
    srv = fault(ts.sc())
    path = fault_conf(srv, password=ts.PASSWORD,
                      extra={"tls_pin": q(value)})
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    check_config_error(res, path, "tls_pin", word)
    time.sleep(0.2)
    assert srv.connections == 0 and not srv.sessions


def test_S17_pin_against_postfix(servers, mailhop, rcpt):
    """The real Postfix's certificate, pinned, with no CA file: the pin
    alone makes it trusted, and the message arrives."""
    pin = spki_pin(os.path.join(servers.pki, "server.pem"))
    for tls in ("starttls", "implicit"):
        to = rcpt()
        conf = servers.write_config(tls=tls, ca_file=None,
                                    extra={"tls_pin": q(pin)})
        res = mailhop.send(conf, [to], ts.MESSAGE)
        assert res.rc == 0 and res.stderr == "", res
        msgs = servers.wait_for_delivery(to)
        check_arrival(msgs[0], ts.MESSAGE, "alice@example.org", to)


def test_S17_wrong_pin_against_postfix(servers, mailhop, rcpt):
    to = rcpt()
    pin = off_by_one(spki_pin(os.path.join(servers.pki, "server.pem")))
    conf = servers.write_config(ca_file=None, extra={"tls_pin": q(pin)})
    res = mailhop.send(conf, [to], ts.MESSAGE)
    check_error_line(res, 69, "does not match tls_pin", pin)
    servers.assert_nothing_delivered(to)


# ---------------------------------------------------------------- S20

# TLS extensions that carry or ask for resumption state.
SESSION_TICKET, PRE_SHARED_KEY, PSK_MODES = 35, 41, 45


def home_files(servers):
    out = set()
    for d, _, files in os.walk(servers.path("home")):
        out |= {os.path.join(d, f) for f in files}
    return out


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_S20_no_session_resumption(servers, mailhop, fault, fault_conf,
                                   version):
    """Two sends to a server that keeps its ticket keys: neither asks
    for a ticket or offers one, neither is resumed, and no file appears
    (a cache could be planted)."""
    v = getattr(ssl.TLSVersion, version)
    srv = fault(ts.sc(share_context=True, tls_versions=(v, v)))
    before = home_files(servers)
    for i in range(2):
        res = ts.run(mailhop, fault_conf, srv, connections=i + 1)
        assert res.rc == 0 and res.stderr == "", res
    assert home_files(servers) == before
    for s in srv.sessions:
        assert s.tls_version == version.replace("_", ".") and \
            s.resumed is False and len(s.messages) == 1, s
        assert s.hello_ext is not None, s
        assert not {SESSION_TICKET, PRE_SHARED_KEY, PSK_MODES} \
            & set(s.hello_ext), sorted(s.hello_ext)


# ------------------------------------------------- S16: tls_priorities


@pytest.mark.parametrize("value,word", [
    ("+VERS-TLS1.1", "enables TLS1.1"),
    ("+VERS-TLS1.0", "enables TLS1.0"),
    ("+VERS-SSL3.0", "enables SSL3.0"),
    ("-VERS-TLS1.3:+VERS-TLS1.1", "enables TLS1.1"),
    ("+NULL", "enables NULL"),
    ("+ARCFOUR-128", "enables ARCFOUR-128"),
    ("+VERS-ALL", "enables ALL"),
    ("%COMPAT", "%flags are not allowed"),
    ("%NO_SESSION_HASH", "%flags are not allowed"),
    ("-VERS-ALL", "leaves no TLS version"),
    ("-CIPHER-ALL", "leaves no TLS version or cipher"),
    ("+NO-SUCH-THING", "GnuTLS does not accept it"),
    ("NORMAL", '"NORMAL" is not allowed (write only items that remove'),
    ("LEGACY:-VERS-TLS1.2", '"LEGACY" is not allowed'),
    ("PERFORMANCE", '"PERFORMANCE" is not allowed'),
    ("SECURE128", '"SECURE128" is not allowed'),
    ("-VERS-TLS1.2:+CIPHER-ALL", '"+CIPHER-ALL" is not allowed'),
    ("+KX-ALL", '"+KX-ALL" is not allowed'),
    ("+CTYPE-SRV-RAWPK", '"+CTYPE-SRV-RAWPK" is not allowed'),
], ids=lambda x: x[:24])
def test_S16_priorities_may_only_narrow(mailhop, fault, fault_conf, value,
                                        word):
    """Refused when the configuration is read: no connection at all."""
    srv = fault(ts.sc())
    path = fault_conf(srv, password=ts.PASSWORD,
                      extra={"tls_priorities": q(value)})
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    check_config_error(res, path, "tls_priorities", word)
    time.sleep(0.2)
    assert srv.connections == 0 and not srv.sessions


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gnutls_serv(servers):
    """gnutls_serv(priority) -> port of a gnutls-serv (gnutls-bin) with
    the harness's certificate that allows only what priority allows."""
    procs = []

    def start(priority):
        port = free_port()
        p = subprocess.Popen(
            ["gnutls-serv", "--port", str(port),
             "--x509certfile", os.path.join(servers.pki, "server.pem"),
             "--x509keyfile", os.path.join(servers.pki, "server-key.pem"),
             "--priority", priority],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(p)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return port
            except OSError:
                time.sleep(0.02)
        pytest.fail("gnutls-serv did not start: %r" % p.stdout.read())
    yield start
    for p in procs:
        p.kill()
        p.wait()


@pytest.mark.parametrize("server,mine", [
    ("NORMAL:-VERS-ALL:+VERS-TLS1.1", None),
    ("NORMAL:-VERS-ALL:+VERS-TLS1.0", None),
    ("NORMAL:-VERS-ALL:+VERS-TLS1.3", "-VERS-TLS1.3"),
    ("NORMAL:-VERS-ALL:+VERS-TLS1.2", "-VERS-TLS1.2"),
], ids=["server-1.1", "server-1.0", "1.3-vs-mine-1.2", "1.2-vs-mine-1.3"])
def test_S16_version_refused_by_gnutls_serv(servers, mailhop, gnutls_serv,
                                            server, mine):
    """gnutls-serv offering only an old version, or only the version the
    account's tls_priorities removed: no handshake, 69."""
    port = gnutls_serv(server)
    extra = {"tls_priorities": q(mine)} if mine else {}
    conf = servers.write_config(tls="implicit", port=port, extra=extra)
    res = mailhop.send(conf, [ts.RCPT], ts.MESSAGE)
    check_error_line(res, 69, "protocol version",
                     *(["tls_priorities"] if mine else []))


@pytest.mark.parametrize("mine,version", [
    ("-VERS-TLS1.2", "TLS1.3"),
    ("-VERS-TLS1.3", "TLS1.2"),
    ("-CIPHER-ALL:+AES-256-GCM", "TLS1.3"),
])
def test_S16_priorities_against_postfix(servers, mailhop, rcpt, mine,
                                        version):
    to = rcpt()
    conf = servers.write_config(extra={"tls_priorities": q(mine)})
    res = mailhop.send(conf, [to], ts.MESSAGE, extra_args=["-v"])
    assert res.rc == 0, res
    msgs = servers.wait_for_delivery(to)
    check_arrival(msgs[0], ts.MESSAGE, "alice@example.org", to)
    assert " tls=%s " % version in servers.mailhop_syslog(res.pid) + " "
    if "AES-256" in mine:
        assert "AES-256-GCM" in res.stderr, res.stderr


# ------------------------------------- client certificates, AUTH EXTERNAL


def client_conf(fault_conf, srv, fault_pki, name="client-alice", **kw):
    cert, key = fault_pki.cert(name)
    kw.setdefault("user", None)
    kw.setdefault("auth", "external")
    kw.setdefault("extra", {})
    kw["extra"].update({"tls_cert_file": q(cert), "tls_key_file": q(key)})
    return fault_conf(srv, **kw)


def subject_cn(peer_cert):
    return [v for rdn in peer_cert["subject"] for k, v in rdn
            if k == "commonName"]


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_client_certificate_with_auth_external(mailhop, fault, fault_conf,
                                               fault_pki, servers, tls):
    srv = fault(ts.sc(tls=tls, client_ca=servers.ca_file,
                      ehlo_tls=["AUTH PLAIN EXTERNAL", "PIPELINING"]))
    path = client_conf(fault_conf, srv, fault_pki)
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5), srv.sessions
    assert res.rc == 0 and res.stderr == "", res
    s = ts.only(srv)
    assert subject_cn(s.peer_cert) == ["alice client"], s.peer_cert
    assert (s.phase, b"AUTH EXTERNAL =", False) in \
        [(c[0], c[1], c[2]) for c in s.commands], s.commands
    assert s.auth == [("EXTERNAL", [b""])] and s.auth_ok
    assert len(s.messages) == 1


def test_client_certificate_with_a_password_login(mailhop, fault,
                                                  fault_conf, fault_pki,
                                                  servers):
    """The certificate goes with any login: here PLAIN as usual."""
    srv = fault(ts.sc(client_ca=servers.ca_file))
    path = client_conf(fault_conf, srv, fault_pki, user="alice",
                       auth="plain", password=ts.PASSWORD)
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5), srv.sessions
    check_ok(res)
    s = ts.only(srv)
    assert subject_cn(s.peer_cert) == ["alice client"]
    assert [m for m, _ in s.auth] == ["PLAIN"] and s.auth_ok


def test_auth_external_not_offered(mailhop, fault, fault_conf, fault_pki,
                                   servers):
    srv = fault(ts.sc(client_ca=servers.ca_file,
                      ehlo_tls=["AUTH PLAIN LOGIN"]))
    path = client_conf(fault_conf, srv, fault_pki)
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5)
    check_error_line(res, 69, "does not offer AUTH EXTERNAL",
                     "PLAIN LOGIN")
    s = ts.only(srv)
    assert not {"AUTH", "MAIL"} & set(s.verbs()), s
    assert subject_cn(s.peer_cert) == ["alice client"]


def test_auth_external_refused(mailhop, fault, fault_conf, fault_pki,
                               servers):
    srv = fault(ts.sc(client_ca=servers.ca_file,
                      ehlo_tls=["AUTH EXTERNAL"],
                      replies={"AUTH": "535 5.7.8 certificate not mapped"}))
    path = client_conf(fault_conf, srv, fault_pki)
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5)
    check_error_line(res, 77, "authentication failed on localhost",
                     "tls_cert_file", "535")
    s = ts.only(srv)
    assert s.verbs("tls").count("AUTH") == 1 and "MAIL" not in s.verbs()


def test_client_certificate_from_an_unknown_ca(mailhop, fault, fault_conf,
                                               fault_pki, servers):
    """The server checks the certificate and ends the handshake.  TLS 1.2:
    under 1.3 the server checks it after the client's Finished, and its
    alert may come while mailhop already sends EHLO (then: "connection
    lost", 75).  Even under 1.2 the server may close before mailhop reads
    its alert (then mailhop's next write fails: 75)."""
    v = ssl.TLSVersion.TLSv1_2
    srv = fault(ts.sc(client_ca=servers.ca_file, tls_versions=(v, v),
                      ehlo_tls=["AUTH EXTERNAL"]))
    path = client_conf(fault_conf, srv, fault_pki, name="client-other-ca")
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5)
    assert res.rc in (69, 75), res
    check_error_line(res, res.rc, "TLS handshake with localhost failed")
    ts.assert_nothing_sent(ts.only(srv))


@pytest.mark.parametrize("case,word", [
    ("mode-0640", "is open to others (run: chmod 600"),
    ("mode-0604", "is open to others (run: chmod 600"),
    ("cert-only", "set without tls_key_file"),
    ("key-only", "set without tls_cert_file"),
    ("external-no-cert", "auth = external logs in with a client "
     "certificate"),
    ("external-password", "auth = external sends no password"),
])
def test_client_certificate_config_errors(servers, mailhop, fault_pki,
                                          tmp_path, case, word):
    cert, key = fault_pki.cert("client-alice")
    extra = {"tls_cert_file": q(cert), "tls_key_file": q(key)}
    kw = {"user": None, "auth": "external"}
    key_name = "tls_key_file"
    if case.startswith("mode-"):
        k2 = tmp_path / "key.pem"
        k2.write_bytes(open(key, "rb").read())
        k2.chmod(int(case[5:], 8))
        extra["tls_key_file"] = q(str(k2))
    elif case == "cert-only":
        del extra["tls_key_file"]
        key_name = "tls_cert_file"
    elif case == "key-only":
        del extra["tls_cert_file"]
    elif case == "external-no-cert":
        extra = {}
        key_name = "auth"
    else:
        kw = {"user": "alice", "auth": "external"}
        key_name = "password"
    path = servers.write_config(extra=extra, **kw)
    res = mailhop.send(path, [ts.RCPT], ts.MESSAGE)
    check_config_error(res, path, key_name, word,
                       cross=case.startswith("external"))


def test_client_certificate_against_postfix(servers, mailhop, rcpt,
                                            fault_pki):
    """Postfix asks for a client certificate on submission and smtps:
    mailhop presents it, Postfix verifies it against the test CA and
    names it in the Received header of the message that arrived."""
    cert, key = fault_pki.cert("client-alice")
    for tls in ("starttls", "implicit"):
        to = rcpt()
        conf = servers.write_config(
            tls=tls, extra={"tls_cert_file": q(cert),
                            "tls_key_file": q(key)})
        res = mailhop.send(conf, [to], ts.MESSAGE)
        assert res.rc == 0 and res.stderr == "", res
        raw = servers.wait_for_delivery(to)[0]
        check_arrival(raw, ts.MESSAGE, "alice@example.org", to)
        head = raw.split(b"\n\n", 1)[0].replace(b"\n\t", b" ")
        assert b'Client CN "alice client", Issuer "mailhop test CA"' \
            in head and b"(verified OK)" in head, head


# ---------------------------------------------- S23: channel binding

PLUS_OFFER = "AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 PLAIN"
V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3


@pytest.mark.parametrize("versions,no_ems,cbtype", [
    ((V13, V13), False, "tls-exporter"),
    ((V12, V12), False, "tls-exporter"),
    ((V12, V12), True, "tls-unique"),
], ids=["TLS1.3", "TLS1.2-EMS", "TLS1.2-no-EMS"])
@pytest.mark.parametrize("mech", ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
def test_S23_channel_binding(mailhop, fault, fault_conf, versions, no_ems,
                             cbtype, mech):
    """-PLUS first when offered; the binding type by TLS version and
    extended master secret; the server finds its own binding bytes in
    the client's c= (RFC 5802 5.1)."""
    offer = PLUS_OFFER if mech.startswith("SCRAM-SHA-256") else \
        "AUTH SCRAM-SHA-1-PLUS SCRAM-SHA-256 SCRAM-SHA-1 PLAIN"
    srv = fault(ts.sc(tls_versions=versions, no_ems=no_ems,
                      ehlo_tls=["PIPELINING", offer]))
    res = ts.run(mailhop, fault_conf, srv, args=["-v"])
    assert res.rc == 0, res
    s = ts.only(srv)
    assert [m for m, _ in s.auth] == [mech] and s.auth_ok, s.auth
    assert s.scram.cbflag == "p=" + cbtype and s.scram.cb_ok
    kind, data = s.cb
    assert kind == cbtype and len(data) >= 12, s.cb
    assert len(s.messages) == 1
    first = s.auth[0][1][0]
    assert first.startswith(("p=%s,," % cbtype).encode()), first
    assert base64.b64encode(data).decode() not in res.stderr


def test_S23_binding_mismatch_fails_without_fallback(mailhop, fault,
                                                     fault_conf):
    """A server whose binding differs (a man in the middle's own TLS
    session) refuses with 535: exit 77, and no second AUTH with PLAIN."""
    srv = fault(ts.sc(cb_tamper=True, ehlo_tls=["PIPELINING", PLUS_OFFER]))
    res = ts.run(mailhop, fault_conf, srv)
    check_error_line(res, 77, "authentication failed", "535")
    s = ts.only(srv)
    assert [m for m, _ in s.auth] == ["SCRAM-SHA-256-PLUS"]
    assert s.scram.cb_ok is False
    assert s.verbs("tls").count("AUTH") == 1 and "MAIL" not in s.verbs()


def test_S23_no_plus_offered_sends_n(mailhop, fault, fault_conf):
    """Without -PLUS in the list: plain SCRAM, flag "n", no binding data
    (libgsasl 2.2 cannot send "y": see sasl.c)."""
    srv = fault(ts.sc(ehlo_tls=["PIPELINING", "AUTH SCRAM-SHA-256 PLAIN"]))
    res = ts.run(mailhop, fault_conf, srv)
    check_ok(res)
    s = ts.only(srv)
    assert [m for m, _ in s.auth] == ["SCRAM-SHA-256"]
    assert s.scram.cbflag == "n" and s.scram.cb_ok and s.cb is None


# ------------------------------------------------------ --serverinfo


def serverinfo(mailhop, conf, *args):
    return mailhop.run(["-C", conf, "--serverinfo"] + list(args))


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_serverinfo_postfix(servers, mailhop, tls):
    conf = servers.write_config(tls=tls)
    res = serverinfo(mailhop, conf)
    assert res.rc == 0 and res.stderr == "", res
    out = res.stdout.decode()
    pin = spki_pin(os.path.join(servers.pki, "server.pem"))
    port = servers.port_for(tls)
    for want in ["server: localhost port %d (tls = %s)" % (port, tls),
                 "220 mx.mailhop.test ESMTP",
                 "TLS: TLS1.3, ",
                 "certificate 0 (the server's):\n  subject: CN=localhost\n"
                 "  issuer: CN=mailhop test CA,O=mailhop tests\n"
                 "  valid: ",
                 " days left)\n  names: DNS:localhost IP:127.0.0.1\n",
                 "  key: %s\n" % pin,
                 "verification: OK (chain to tls_ca_file, and the host "
                 "name)\ntls_pin: not needed (the certificate is trusted"]:
        assert want in out, (want, out)
    assert 'tls_pin = "' not in out, out
    if tls == "starttls":
        assert "greeting (before TLS, not authenticated): 220 " in out
        before, after = out.split("capabilities after TLS:\n")
        assert "capabilities before TLS (not authenticated):\n" in before
        assert "\n  STARTTLS\n" in before and "AUTH" not in before
        assert "\n  AUTH " in after and "STARTTLS" not in after
    else:
        assert "capabilities (inside TLS):\n" in out and "\n  AUTH " in out
        assert out.index("TLS: ") < out.index("greeting: 220")


def test_serverinfo_postfix_pinned(servers, mailhop):
    pin = spki_pin(os.path.join(servers.pki, "server.pem"))
    conf = servers.write_config(ca_file=None, extra={"tls_pin": q(pin)})
    res = serverinfo(mailhop, conf)
    assert res.rc == 0 and res.stderr == "", res
    assert "verification: OK (the server's key is one of tls_pin)" in \
        res.stdout.decode()


def test_serverinfo_postfix_plain(servers, mailhop):
    conf = servers.write_config(tls="off", user=None, auth="off")
    res = serverinfo(mailhop, conf)
    assert res.rc == 0 and res.stderr == "", res
    out = res.stdout.decode()
    assert "capabilities (no TLS: tls = off):" in out
    assert "\nTLS: " not in out and "tls_pin" not in out


def test_serverinfo_self_signed_then_pinned(mailhop, fault, fault_conf,
                                            fault_pki):
    """A self-signed server: --serverinfo says verification failed (69,
    one stderr line) but prints the pin; pasted into the account, the
    same command passes.  The server sees EHLO, STARTTLS (and, trusted,
    EHLO and QUIT): never AUTH or MAIL."""
    cert = fault_pki.cert("self-signed")
    srv = fault(ts.sc(cert=cert))
    conf = fault_conf(srv, ca_file=None)
    res = serverinfo(mailhop, conf)
    assert srv.wait_idle(5)
    check_error_line(res, 69, "certificate of localhost not trusted")
    out = res.stdout.decode()
    pin = spki_pin(cert[0])
    assert "verification: FAILED: certificate of localhost not trusted" \
        in out
    # the line to paste comes after the warning (R2)
    advice = out[out.index("\ntls_pin: "):]
    assert advice.startswith(
        "\ntls_pin: the issuer is unknown (self-signed, or a private CA: "
        "then tls_ca_file is better).  This connection may have been "
        "intercepted: first check the key above with the server's "
        "operator by another path"), advice
    assert 'put in the account:\ntls_pin = "%s"\n' % pin in advice, out
    assert "capabilities after TLS" not in out
    s = srv.sessions[0]
    assert s.verbs() == ["EHLO", "STARTTLS"], s
    assert not s.post, s
    ts.assert_nothing_sent(s)

    conf = fault_conf(srv, ca_file=None, extra={"tls_pin": q(pin)})
    res = serverinfo(mailhop, conf)
    assert srv.wait_idle(5, connections=2)
    assert res.rc == 0 and res.stderr == "", res
    assert "capabilities after TLS:\n  PIPELINING\n" in res.stdout.decode()
    s = srv.sessions[1]
    assert s.verbs() == ["EHLO", "STARTTLS", "EHLO", "QUIT"], s
    ts.assert_nothing_sent(s)


@pytest.mark.parametrize("where", ["GREETING", "EHLO"])
def test_serverinfo_timeout_names_the_host(mailhop, fault, fault_conf,
                                           where):
    from faultserver import Stall
    scenario = ({"greeting": Stall()} if where == "GREETING"
                else {"replies": {"EHLO": Stall()}})
    srv = fault(ts.sc(**scenario))
    res = serverinfo(mailhop, fault_conf(srv, timeout=1))
    check_error_line(res, 75, "timed out waiting for the server "
                     "(localhost, at %s)" % where)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
@pytest.mark.parametrize("cert", ["self-signed", "default"])
def test_serverinfo_never_presents_the_client_certificate(
        mailhop, fault, fault_conf, fault_pki, servers, cert, version):
    """The server asks for a client certificate.  Report mode goes on
    after a refused certificate (to show it), so the account's
    tls_cert_file is never presented by --serverinfo: not to the
    self-signed server it refuses (under TLS 1.2 the certificate would go
    in clear), and not to a trusted one either.  The send, for
    comparison: no certificate to the refused server (the handshake
    fails first), the certificate to the trusted one."""
    v = getattr(ssl.TLSVersion, "TLSv" + version.replace(".", "_"))
    srv = fault(ts.sc(cert=fault_pki.cert(cert), client_ca=servers.ca_file,
                      tls_versions=(v, v), ehlo_tls=["AUTH EXTERNAL"]))
    conf = client_conf(fault_conf, srv, fault_pki)
    res = serverinfo(mailhop, conf)
    assert srv.wait_idle(5)
    s = ts.only(srv)
    assert not s.peer_cert, s.peer_cert
    assert "client certificate: not presented" in res.stdout.decode()
    if cert == "default":
        assert res.rc == 0 and res.stderr == "", res
        assert s.tls_version == "TLSv" + version, s
        assert s.verbs() == ["EHLO", "STARTTLS", "EHLO", "QUIT"], s
    else:
        check_error_line(res, 69, "certificate of localhost not trusted")
        assert s.verbs() == ["EHLO", "STARTTLS"] and not s.post, s
    ts.assert_nothing_sent(s)

    res = mailhop.send(conf, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5, connections=2)
    s = srv.sessions[1]
    if cert == "default":
        assert res.rc == 0, res
        assert subject_cn(s.peer_cert) == ["alice client"], s.peer_cert
    else:
        check_error_line(res, 69, "certificate of localhost not trusted")
        assert not s.peer_cert and not s.post, s


@pytest.mark.parametrize("cert,host,word", [
    ("expired", "localhost", "expired"),
    ("other-name", "localhost", "does not match"),
])
def test_serverinfo_no_pin_for_a_trusted_ca_failure(
        mailhop, fault, fault_conf, fault_pki, cert, host, word):
    """A certificate from the trusted CA that fails for another reason
    (dates, name): no line to paste, a pin would hide the fault (R2)."""
    srv = fault(ts.sc(cert=fault_pki.cert(cert)))
    res = serverinfo(mailhop, fault_conf(srv, host=host))
    assert srv.wait_idle(5)
    check_error_line(res, 69, "not trusted", word)
    out = res.stdout.decode()
    assert "\n  key: sha256//" in out, out      # the key is shown
    assert 'tls_pin = "' not in out, out
    assert "\ntls_pin: not advised: the certificate comes from a trusted " \
        "CA but fails for another reason, which pinning its key would " \
        "hide; have it fixed\n" in out, out
    ts.assert_nothing_sent(ts.only(srv))


def test_serverinfo_pin_mismatch(mailhop, fault, fault_conf, fault_pki):
    """tls_pin set and another key: the warning, no line to paste."""
    cert = fault_pki.cert("self-signed")
    srv = fault(ts.sc(cert=cert))
    bad = off_by_one(spki_pin(cert[0]))
    res = serverinfo(mailhop, fault_conf(srv, ca_file=None,
                                         extra={"tls_pin": q(bad)}))
    assert srv.wait_idle(5)
    check_error_line(res, 69, "does not match tls_pin; this may be an "
                     "attack")
    out = res.stdout.decode()
    assert 'tls_pin = "' not in out and "\ntls_pin: " not in out, out


def test_serverinfo_starttls_missing(mailhop, fault, fault_conf):
    srv = fault(ts.sc(ehlo=["AUTH PLAIN LOGIN", "PIPELINING"]))
    res = serverinfo(mailhop, fault_conf(srv))
    assert srv.wait_idle(5)
    check_error_line(res, 69, "did not offer STARTTLS")
    assert "\n  AUTH PLAIN LOGIN\n" in res.stdout.decode()
    s = ts.only(srv)
    assert s.verbs() == ["EHLO"] and s.tls_version is None, s
    ts.assert_nothing_sent(s)


@pytest.mark.parametrize("scenario,code,words", [
    ({"greeting": "421 4.3.2 busy"}, 75,
     ("server localhost refused the session: 421 4.3.2 busy",)),
    ({"greeting": "554 5.3.2 no service here"}, 69,
     ("server localhost refused the session: 554 5.3.2 no service here",)),
    ({"replies": {"EHLO": "421 4.7.0 try later"}}, 75,
     ("server localhost refused EHLO: 421 4.7.0 try later",)),
    ({"starttls": "454 4.7.0 TLS not available due to local problem"}, 75,
     ("server localhost did not start TLS: 454 4.7.0 TLS not available "
      "due to local problem",)),
    ({"starttls": "502 5.5.1 not now"}, 76,
     ("server localhost did not start TLS: 502 5.5.1 not now",)),
    ({"starttls": "354 go ahead"}, 76,
     ("server localhost did not start TLS: unexpected reply 354 go ahead",)),
], ids=["greeting-421", "greeting-554", "ehlo-421", "starttls-454",
        "starttls-502", "starttls-354"])
def test_serverinfo_exit_codes_match_send(mailhop, fault, fault_conf,
                                          scenario, code, words):
    """mailhop(1): --serverinfo exits with the status a send would have,
    and its line quotes the server as the send's does."""
    srv = fault(ts.sc(**scenario))
    conf = fault_conf(srv)
    send = mailhop.send(conf, [ts.RCPT], ts.MESSAGE)
    assert srv.wait_idle(5)
    info = serverinfo(mailhop, conf)
    assert srv.wait_idle(5, connections=2)
    # every one of these replies came in clear, before TLS (S09)
    check_error_line(send, code, *words, ts.PRE_TLS)
    check_error_line(info, code, *words, ts.PRE_TLS)
    res = serverinfo(mailhop, conf, "-v")
    assert srv.wait_idle(5, connections=3)
    assert res.rc == code, res
    assert "<-- %s  [said before TLS, not authenticated]\n" % (
        srv.scenario.greeting) in res.stderr, res.stderr
    for s in srv.sessions:
        assert set(s.verbs()) <= {"EHLO", "STARTTLS", "QUIT"}, s
        assert s.tls_version is None and not s.post, s
    assert "QUIT" not in srv.sessions[1].verbs()


def test_serverinfo_hostile_text_is_sanitised(mailhop, fault, fault_conf):
    srv = fault(ts.sc(greeting="220 \x1b[2Jfault\x07 ready",
                      ehlo_tls=["AUTH PLAIN", "X-\x1b[31mRED"]))
    res = serverinfo(mailhop, fault_conf(srv))
    assert res.rc == 0, res
    out = res.stdout.decode()
    assert ts.no_controls(out), out
    assert "\\x1b[2Jfault\\x07" in out and "X-\\x1b[31mRED" in out


def test_serverinfo_under_asan(servers, mailhop_asan, fault, fault_conf,
                               fault_pki):
    """Both paths (trusted chain, refused self-signed) with the sanitizer
    build: no report, the same exit codes."""
    res = serverinfo(mailhop_asan, servers.write_config())
    assert res.rc == 0 and res.stderr == "", res
    srv = fault(ts.sc(cert=fault_pki.cert("self-signed")))
    res = serverinfo(mailhop_asan, fault_conf(srv, ca_file=None))
    check_error_line(res, 69, "not trusted")


# ------------------------------------------- key exchange groups (S16)

KEY_SHARE, SUPPORTED_GROUPS = 51, 10
X25519, SECP256R1 = 0x001d, 0x0017


def hello_groups(s):
    """(groups offered in order, groups with a key share) of a session's
    ClientHello, from its supported_groups and key_share extensions."""
    body = s.hello_ext[SUPPORTED_GROUPS]
    groups = [int.from_bytes(body[i:i + 2], "big")
              for i in range(2, 2 + int.from_bytes(body[:2], "big"), 2)]
    body, shares, i = s.hello_ext[KEY_SHARE], [], 2
    while i < 2 + int.from_bytes(body[:2], "big"):
        shares.append(int.from_bytes(body[i:i + 2], "big"))
        i += 4 + int.from_bytes(body[i + 2:i + 4], "big")
    return groups, shares


@pytest.mark.parametrize("mine,first", [(None, X25519),
                                        ("-GROUP-X25519", SECP256R1)])
def test_S16_x25519_first_one_key_share(mailhop, fault, fault_conf, mine,
                                        first):
    """X25519 is offered first, with the only key share (GnuTLS alone
    puts P-256 first and sends two shares); the other groups are still
    offered, and tls_priorities still removes X25519."""
    v = ssl.TLSVersion.TLSv1_3
    srv = fault(ts.sc(tls_versions=(v, v)))
    extra = {"tls_priorities": q(mine)} if mine else {}
    res = ts.run(mailhop, fault_conf, srv, extra=extra)
    assert res.rc == 0 and res.stderr == "", res
    groups, shares = hello_groups(ts.only(srv))
    assert shares == [first] and groups[0] == first, (groups, shares)
    assert SECP256R1 in groups and len(groups) >= 4, groups
    assert (X25519 in groups) == (mine is None), groups


def test_S16_x25519_with_postfix(servers, mailhop, rcpt):
    """Postfix logs the key exchange of mailhop's connection: X25519."""
    to = rcpt()
    conf = servers.write_config()
    res = mailhop.send(conf, [to], ts.MESSAGE)
    check_ok(res)
    msgs = servers.wait_for_delivery(to)
    check_arrival(msgs[0], ts.MESSAGE, "alice@example.org", to)
    trace, _ = split_trace(msgs[0])
    qid = re.search(r"\bid ([0-9A-F]+)\b", trace["received"]).group(1)
    smtpd = [ln for ln in servers.postfix_log(qid) if "smtpd[" in ln][0]
    pid = re.search(r"smtpd\[(\d+)\]", smtpd).group(1)
    log = servers.read_text(servers.maillog).splitlines()
    tls = [ln for ln in log if "smtpd[%s]:" % pid in ln
           and "TLS connection established" in ln]
    assert tls and "key-exchange X25519 " in tls[-1], tls


def test_S16_server_without_x25519_asks_for_p256(servers, mailhop):
    """A TLS 1.3 server that has only P-256 (OpenSSL, through Python's
    ssl) answers the one X25519 key share with a HelloRetryRequest; the
    handshake then completes with P-256 and the session goes on."""
    import threading
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(servers.pki, "server.pem"),
                        os.path.join(servers.pki, "server-key.pem"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_ecdh_curve("prime256v1")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    seen = {}

    def serve():
        c, _ = ls.accept()
        with ctx.wrap_socket(c, server_side=True) as s:
            seen["version"] = s.version()
            s.sendall(b"220 only P-256 here\r\n")
            seen["ehlo"] = s.recv(100)
            s.sendall(b"554 5.7.1 that is all\r\n")
    t = threading.Thread(target=serve)
    t.start()
    conf = servers.write_config(tls="implicit", port=ls.getsockname()[1],
                                user=None, auth="off", timeout=5)
    res = mailhop.send(conf, [ts.RCPT], ts.MESSAGE, extra_args=["-v"])
    t.join(10)
    ls.close()
    assert seen.get("version") == "TLSv1.3", seen
    assert seen.get("ehlo", b"").startswith(b"EHLO "), seen
    assert "(ECDHE-SECP256R1)" in res.stderr, res.stderr
    assert res.rc == 76, res
    assert res.stderr.splitlines()[-1] == \
        "mailhop: server localhost refused EHLO: 554 5.7.1 that is all", res
