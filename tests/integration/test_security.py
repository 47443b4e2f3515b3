# SPDX-License-Identifier: ISC
"""The rows of ../shared/security.md that a hostile or broken server can
exercise, each played by the fault server (tests/faultserver.py) and named
after its row id.  Each test asserts what the server saw (bytes before and
after TLS, commands, connections), mailhop's exit code (DESIGN.md's table;
the configs say queue = off, so a temporary failure exits 75) and its one stderr
line."""

import base64
import os
import re
import socket
import ssl
import time

import pytest

from conftest_fault import *  # noqa: F401,F403
from faultserver import (Close, Drip, KeyUpdate, ReadSome, Renegotiate,
                         Reset, Scenario, Seq,
                         Sleep, Stall)
from mailmodel import check_error_line, check_ok

MESSAGE = b"From: alice@example.org\nSubject: fault test\n\nbody\n"
RCPT = "bob@example.org"
PASSWORD = "Sup3r-s3cret-pw!"
TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure
NEVER = {"AUTH", "MAIL", "RCPT", "DATA", "HELO", "BDAT"}


def sc(**kw):
    """A Scenario that knows the password the configs use."""
    kw.setdefault("user", "alice")
    kw.setdefault("password", PASSWORD)
    return Scenario(**kw)


def run(mailhop, fault_conf, srv, args=(), data=MESSAGE, connections=1,
        **conf):
    conf.setdefault("password", PASSWORD)
    if conf.get("user", "alice") is None:
        conf.pop("password")
    path = fault_conf(srv, **conf)
    res = mailhop.send(path, [RCPT], data, extra_args=args)
    assert srv.wait_idle(5, connections=connections), srv.sessions
    return res


def only(srv):
    assert srv.connections == 1, srv.sessions
    return srv.sessions[0]


def assert_nothing_sent(s):
    """No AUTH, no mail transaction, no HELO; no error in the server."""
    assert s.error is None, s
    assert not NEVER & set(s.verbs()), s
    assert PASSWORD.encode() not in bytes(s.pre + s.post + s.raw)


def no_controls(text):
    """No raw C0 control, DEL, C1 control or bidirectional control but
    the line ends."""
    return not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e"
                         "\u200f\u2028-\u202e\u2066-\u2069]", text)


# ---------------------------------------------------------------- A


def test_S01_starttls_missing_is_fatal(mailhop, fault, fault_conf):
    srv = fault(sc(ehlo=["AUTH PLAIN LOGIN", "PIPELINING"]))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 69, "did not offer STARTTLS")
    s = only(srv)
    assert s.verbs() == ["EHLO", "QUIT"], s
    assert not s.post and s.tls_version is None and not s.raw
    assert_nothing_sent(s)


@pytest.mark.parametrize("reply,code", [
    ("502 5.5.1 not now", 76),
    ("454 4.7.0 TLS not available due to local problem", 75),
    ("354 go ahead", 76),
    ("221 2.0.0 bye", 76),
    ("421 4.3.2 shutting down", 75),
    ("500 5.5.2 what", 76),
    ("501 5.5.4 syntax error", 76),
    ("530 5.7.0 must issue a STARTTLS command first", 76),
], ids=lambda x: str(x)[:3])
def test_S02_starttls_refused(mailhop, fault, fault_conf, reply, code):
    srv = fault(sc(starttls=reply))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, code, "did not start TLS", reply[:3])
    s = only(srv)
    assert s.verbs()[:2] == ["EHLO", "STARTTLS"], s
    assert set(s.verbs()[2:]) <= {"QUIT"}, s
    assert not s.post and s.tls_version is None
    assert_nothing_sent(s)


def test_S03_ehlo_refused_starttls_mode(mailhop, fault, fault_conf):
    srv = fault(sc(replies={"EHLO": "502 5.5.2 no EHLO", "HELO": "250 ok"}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "refused EHLO")
    s = only(srv)
    assert s.verbs() == ["EHLO", "QUIT"], s
    assert_nothing_sent(s)


def test_S03_ehlo_refused_implicit_tls(mailhop, fault, fault_conf):
    """Inside implicit TLS a HELO fallback would be allowed, but without
    EHLO there is no AUTH, and auth is configured.  mailhop never falls
    back to HELO (DEPARTURES): a refused EHLO is 76, as in clear."""
    srv = fault(sc(tls="implicit",
                   replies={"EHLO": "502 5.5.2 no EHLO", "HELO": "250 ok"}))
    res = run(mailhop, fault_conf, srv)
    line = check_error_line(res, 76, "server localhost refused EHLO: 502 "
                            "5.5.2 no EHLO")
    assert PRE_TLS not in line
    s = only(srv)
    assert s.tls_version and not s.pre
    assert s.verbs() == ["EHLO", "QUIT"], s
    assert_nothing_sent(s)


INJECTED = b"250-fault.example.org\r\n250 AUTH LOGIN\r\n"


def test_S04_response_injection_same_segment(mailhop, fault, fault_conf):
    srv = fault(sc(starttls=b"220 2.0.0 Ready\r\n" + INJECTED,
                   ignore_tls=["EHLO"], ehlo_tls=["AUTH LOGIN"]))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "unexpected data from localhost after the "
                     "220 reply to STARTTLS (possible response injection); "
                     "the message was not sent")
    s = only(srv)
    assert bytes(s.pre) == b"EHLO %s\r\nSTARTTLS\r\n" % helo_of(s)
    # mailhop refused before its ClientHello: no handshake at all
    assert s.tls_version is None and not s.sni_seen and not s.post
    assert_nothing_sent(s)


def test_S04_response_injection_delayed(mailhop, fault, fault_conf):
    """The injected bytes come in a second segment, once mailhop has
    started the handshake (after its ClientHello has arrived, rather than
    a fixed 50 ms later, so that the case does not depend on timing):
    they break the handshake, and nothing is retried."""
    srv = fault(sc(starttls=[b"220 2.0.0 Ready\r\n", ReadSome(), INJECTED],
                   ignore_tls=["EHLO"], ehlo_tls=["AUTH LOGIN"]))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 69, "TLS handshake")
    s = only(srv)
    assert bytes(s.pre) == b"EHLO %s\r\nSTARTTLS\r\n" % helo_of(s)
    assert s.tls_version is None and not s.post
    assert s.raw[:1] == b"\x16"  # the ClientHello came before INJECTED
    assert srv.connections == 1
    assert_nothing_sent(s)


def helo_of(s):
    return s.commands[0][1].split(b" ", 1)[1]


MESSAGE_8BIT = (b"From: alice@example.org\nSubject: caf\xc3\xa9\n"
                b"Content-Type: text/plain; charset=utf-8\n\n"
                b"na\xc3\xafve body\n")


def test_S05_forget_pre_tls_knowledge(mailhop, fault, fault_conf):
    """8BITMIME, SIZE 10, PIPELINING and AUTH PLAIN were offered in
    clear only; the message is 8-bit (test_S05_control: with 8BITMIME
    after TLS it goes with BODY=8BITMIME)."""
    srv = fault(sc(ehlo=["AUTH PLAIN LOGIN", "SIZE 10", "PIPELINING",
                         "8BITMIME", "STARTTLS"],
                   ehlo_tls=["AUTH SCRAM-SHA-256", "SIZE 100000000"]))
    data = MESSAGE_8BIT + b"x" * 1024 + b"\n"
    res = run(mailhop, fault_conf, srv, data=data)
    check_ok(res)
    s = only(srv)
    assert s.verbs("tls")[:2] == ["EHLO", "AUTH"], s
    assert s.auth[0][0] == "SCRAM-SHA-256" and s.auth_ok
    assert len(s.messages[0]) > 1024
    # no pipelining after TLS: each command alone, after the last reply
    tls_cmds = [c for c in s.commands if c[0] == "tls"]
    assert not any(more for _, _, more in tls_cmds), tls_cmds
    assert b"\xc3\xa9" in s.messages[0]
    assert b"BODY=8BITMIME" not in s.post, s.post


def test_S05_control(mailhop, fault, fault_conf):
    """The same 8-bit message to a server that offers 8BITMIME inside
    TLS: BODY=8BITMIME, so its absence above is the forgetting."""
    srv = fault(sc(ehlo_tls=["AUTH SCRAM-SHA-256", "8BITMIME"]))
    res = run(mailhop, fault_conf, srv, data=MESSAGE_8BIT)
    check_ok(res)
    mail = [c[1] for c in only(srv).commands if c[1].startswith(b"MAIL")]
    assert mail and mail[0].endswith(b" BODY=8BITMIME"), mail


def test_S06_only_ehlo_and_starttls_in_clear(mailhop, fault, fault_conf):
    srv = fault(sc())
    res = run(mailhop, fault_conf, srv,
              extra={"helo": '"client.example.org"'})
    check_ok(res)
    s = only(srv)
    assert bytes(s.pre) == b"EHLO client.example.org\r\nSTARTTLS\r\n"
    assert [c[2] for c in s.commands if c[0] == "plain"] == [False, False]
    assert s.tls_version and s.messages


@pytest.mark.parametrize("greeting,code,words", [
    ("421 4.3.2 service not available", 75, ("421",)),
    ("554 5.3.2 no service", 69, ("554",)),
    ("500 x", 69, ("500",)),
    ("hello, this is not SMTP", 76, ("malformed", "(localhost, at "
                                     "GREETING; said before TLS")),
    (Close(), 75, ("connection lost",)),
    (b"220 " + b"A" * (10 << 20), 76,
     ("the server sent a line longer than 4096 bytes (localhost, at "
      "GREETING; said before TLS, not authenticated); the message was not "
      "sent",)),
], ids=["421", "554", "500", "garbage", "close", "10MB-no-CRLF"])
def test_S07_bad_greeting(mailhop, fault, fault_conf, greeting, code,
                          words):
    srv = fault(sc(greeting=greeting))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, code, *words)
    s = only(srv)
    assert set(s.verbs()) <= {"QUIT"}, s
    assert_nothing_sent(s)


def max_rss_kb(mailhop, path, data=MESSAGE):
    """A send's exit code, stderr and peak resident set (ru_maxrss, KiB),
    which GNU time takes from wait4.  Not os.wait4 here: a child forked
    from pytest keeps pytest's pages in its ru_maxrss across the exec
    (tried: 75 MB for a send that failed at the greeting)."""
    out = os.path.join(os.path.dirname(path), "maxrss")
    res = mailhop.run(["-f", "%M", "-o", out, mailhop.path, "-C", path,
                       "--", RCPT], data, binary="/usr/bin/time")
    with open(out) as f:
        return res.rc, res.stderr, int(f.read().split()[-1])


def test_S07_long_greeting_memory_is_bounded(mailhop, fault, fault_conf):
    """10 MB without a CRLF: mailhop refuses the line at its cap and
    never holds the rest.  Its peak memory stays within 4 MiB of a
    session that failed on a short greeting, and under 32 MiB."""
    srv = fault(sc(greeting="421 4.3.2 service not available"))
    rc, err, base = max_rss_kb(mailhop, fault_conf(srv, password=PASSWORD))
    assert rc == 75, err
    srv = fault(sc(greeting=b"220 " + b"A" * (10 << 20)))
    rc, err, rss = max_rss_kb(mailhop, fault_conf(srv, password=PASSWORD))
    assert rc == 76 and "longer than 4096 bytes" in err, err
    assert rss < base + 4096 and rss < 32 * 1024, (rss, base)


@pytest.mark.parametrize("case,code,words", [
    ("a-503", 76, ("out of sequence",)),
    ("b-no-auth", 69, ("offers no AUTH",)),
    ("c-535", 77, ("authentication failed",)),
])
def test_S08_failed_auth_is_fatal(mailhop, fault, fault_conf, case, code,
                                  words):
    if case == "a-503":
        s_ = sc(replies={"AUTH": "503 5.5.1 Error: already authenticated"})
    elif case == "b-no-auth":
        s_ = sc(ehlo_tls=["PIPELINING", "8BITMIME"])
    else:
        s_ = sc(replies={"AUTH": "535 5.7.8 Error: authentication failed"})
    srv = fault(s_)
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, code, *words)
    s = only(srv)
    verbs = s.verbs("tls")
    assert verbs.count("AUTH") == (0 if case == "b-no-auth" else 1), s
    assert not {"MAIL", "RCPT", "DATA"} & set(verbs), s


SPOOF_GREETING = "220 \x1b[2J\x1b[HMessage sent"
# The UTF-8 of U+009B (CSI, a C1 control) and U+202E (right-to-left
# override), as latin-1 characters: the bytes go on the wire.
C1_BIDI = "\xc2\x9b2J \xe2\x80\xaeexe.jpg "
HOSTILE = ("550 5.7.1 a\rb\x07c\x1b[31m red \x7f " + C1_BIDI + "x" * 2000)


def test_S09_server_text_is_sanitised(servers, mailhop, fault, fault_conf):
    srv = fault(sc(greeting=SPOOF_GREETING, replies={"MAIL": HOSTILE}))
    res = run(mailhop, fault_conf, srv)
    line = check_error_line(res, 65, "550")
    assert no_controls(res.stderr), repr(res.stderr)
    assert "Message sent" not in res.stderr
    assert len(line) < 1200, len(line)
    log = servers.mailhop_syslog(res.pid)
    assert no_controls(log) and "\x1b" not in log, repr(log)
    assert len(log) < 2500


def test_S09_verbose_transcript_is_sanitised(mailhop, fault, fault_conf):
    srv = fault(sc(greeting=SPOOF_GREETING, replies={"MAIL": HOSTILE}))
    res = run(mailhop, fault_conf, srv, args=["-v"])
    assert res.rc == 65, res
    assert no_controls(res.stderr), repr(res.stderr)


PRE_TLS = "(said before TLS, not authenticated)"


@pytest.mark.parametrize("tls,scenario,code,words,marked", [
    ("starttls", {"greeting": "554 5.3.2 no service"}, 69,
     "refused the session: 554 5.3.2 no service", True),
    ("implicit", {"greeting": "554 5.3.2 no service"}, 69,
     "refused the session: 554 5.3.2 no service", False),
    ("starttls", {"starttls": "502 5.5.1 not now"}, 76,
     "did not start TLS: 502 5.5.1 not now", True),
    ("starttls", {"replies": {"EHLO@plain": "550 5.7.1 go away"}}, 76,
     "refused EHLO: 550 5.7.1 go away", True),
    ("starttls", {"replies": {"EHLO@tls": "550 5.7.1 go away"}}, 76,
     "refused EHLO: 550 5.7.1 go away", False),
    ("starttls", {"greeting": "hello, this is not SMTP"}, 76,
     "(localhost, at GREETING; said before TLS, not authenticated)", None),
], ids=["greeting", "greeting-implicit", "starttls", "ehlo-before-tls",
        "ehlo-in-tls", "malformed-greeting"])
def test_S09_pre_tls_text_is_marked(mailhop, fault, fault_conf, tls,
                                    scenario, code, words, marked):
    """An error line that quotes what the server said in clear, before
    TLS, says that it is not authenticated; one that quotes it from
    inside TLS does not."""
    srv = fault(sc(tls=tls, **scenario))
    res = run(mailhop, fault_conf, srv)
    line = check_error_line(res, code, words)
    if marked is not None:
        assert (PRE_TLS in line) == marked, line
    if marked:
        assert line.index(words) + len(words) == line.index(PRE_TLS) - 1
    assert_nothing_sent(only(srv))


def test_S09_pre_tls_lines_marked_in_transcript(mailhop, fault, fault_conf):
    srv = fault(sc())
    res = run(mailhop, fault_conf, srv, args=["-v"])
    assert res.rc == 0, res
    mark = "  [said before TLS, not authenticated]"
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("<-- ")]
    n = [i for i, ln in enumerate(lines) if ln.startswith("<-- 220 2.0.0")]
    assert n, res.stderr          # the 220 to STARTTLS, the last in clear
    before, after = lines[:n[0] + 1], lines[n[0] + 1:]
    # the greeting, EHLO's name and keywords, the 220 to STARTTLS
    assert len(before) == 3 + len(srv.scenario.ehlo), before
    assert all(ln.endswith(mark) for ln in before), before
    assert after and not any(mark in ln for ln in after), after


def test_S09_nul_in_reply(mailhop, fault, fault_conf):
    """Without PIPELINING each command waits for the reply before it, so
    the server sees exactly what went after the bad reply: nothing (no
    RCPT, no DATA, not even QUIT: the dialogue is out of step)."""
    srv = fault(sc(ehlo_tls=["AUTH PLAIN LOGIN"],
                   replies={"MAIL": "550 5.7.1 a\x00b\x07"}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "NUL")
    assert no_controls(res.stderr), repr(res.stderr)
    s = only(srv)
    assert s.verbs("tls") == ["EHLO", "AUTH", "MAIL"], s
    assert not s.messages, s


def test_S10_no_second_starttls(mailhop, fault, fault_conf):
    srv = fault(sc(ehlo_tls=["STARTTLS", "AUTH PLAIN", "PIPELINING"]))
    res = run(mailhop, fault_conf, srv)
    check_ok(res)
    s = only(srv)
    assert s.verbs().count("STARTTLS") == 1
    assert "STARTTLS" not in s.verbs("tls") and s.messages


@pytest.mark.parametrize("case,code,words", [
    ("a-plaintext", 69, ("plain text",)),
    ("b-alert", 69, ("alert",)),
    ("c-reset", 75, ("connection lost",)),
])
@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_S11_no_downgrade_after_tls_failure(mailhop, fault, fault_conf,
                                            tls, case, code, words):
    then = {"a-plaintext": [b"220 fault.example.org ESMTP hi\r\n",
                            ReadSome()],
            "b-alert": [TLS_ALERT, ReadSome()],
            "c-reset": [Reset()]}[case]
    srv = fault(sc(tls=tls, handshake=[ReadSome()] + then))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, code, *words)
    time.sleep(0.2)
    s = only(srv)
    # the ClientHello went out, then nothing in clear, no second try
    assert s.raw[:1] == b"\x16", s
    assert b"EHLO" not in s.raw and b"QUIT" not in s.raw
    if tls == "starttls":
        assert s.verbs() == ["EHLO", "STARTTLS"], s
    else:
        assert not s.pre
    assert_nothing_sent(s)


# ---------------------------------------------------------------- B


S12_FAIL = [
    ("self-signed", ("not trusted", "issuer is unknown")),
    ("unknown-ca", ("not trusted", "issuer is unknown")),
    ("expired", ("not trusted", "expired")),
    ("not-yet-valid", ("not trusted", "not yet valid")),
    ("via-notca-chain", ("not trusted",)),   # signer without CA:TRUE
    ("via-leaf-chain", ("not trusted",)),    # leaf signed by a leaf
    ("via-inter", ("not trusted",)),         # intermediate missing
]


@pytest.mark.parametrize("cert,words", S12_FAIL)
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_S12_untrusted_certificates(mailhop, fault, fault_conf, fault_pki,
                                    tls, cert, words):
    srv = fault(sc(tls=tls, cert=fault_pki.cert(cert)))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 69, *words)
    s = only(srv)
    assert s.tls_version is None and not s.post, s
    assert_nothing_sent(s)


def test_S12_valid_chain_with_intermediate(mailhop, fault, fault_conf,
                                           fault_pki):
    """The control for the chain cases: the same leaf with its
    intermediate sent along is accepted."""
    srv = fault(sc(cert=fault_pki.cert("via-inter-chain")))
    res = run(mailhop, fault_conf, srv)
    check_ok(res)
    assert only(srv).messages


@pytest.mark.parametrize("cert", ["self-signed", "expired", "default"])
def test_S15_default_trust_settings(mailhop, fault, fault_conf, fault_pki,
                                    cert):
    """No tls_ca_file: the system store, which does not hold the test CA,
    so even the harness's good certificate is refused."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop, fault_conf, srv, ca_file=None)
    check_error_line(res, 69, "not trusted")
    s = only(srv)
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("cert,host,ok", [
    ("default", "localhost", True),
    ("default", "127.0.0.1", True),
    ("other-name", "localhost", False),
    ("expired", "localhost", False),
    ("unknown-ca", "localhost", False),
])
def test_S15_system_trust_checks_name_and_chain(mailhop_trust, fault,
                                                fault_conf, fault_pki,
                                                cert, host, ok):
    """The shipped default (no tls_ca_file: the system trust store),
    with the test CA as the system's only CA (mailhop_trust): a right
    name is accepted, a wrong name, an expired certificate and another
    CA are refused.  test_S15_default_trust_settings is the control: the
    real store refuses the same good certificate."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_trust, fault_conf, srv, ca_file=None, host=host)
    s = only(srv)
    if ok:
        assert res.rc == 0 and res.stderr == "", res
        assert s.tls_version and len(s.messages) == 1, s
        return
    check_error_line(res, 69, "not trusted",
                     {"other-name": "does not match",
                      "expired": "expired",
                      "unknown-ca": "issuer is unknown"}[cert])
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("cert,words", S12_FAIL + [
    ("via-inter-chain", None)], ids=[c for c, _ in S12_FAIL]
    + ["via-inter-chain"])
def test_S15_system_trust_S12_certificates(mailhop_trust, fault,
                                           fault_conf, fault_pki, cert,
                                           words):
    """S12's certificates against the system trust store holding the
    test CA alone: the same verdicts as with tls_ca_file."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_trust, fault_conf, srv, ca_file=None)
    s = only(srv)
    if words is None:
        check_ok(res)
        assert s.tls_version and len(s.messages) == 1, s
        return
    check_error_line(res, 69, *words)
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest.mark.parametrize("case", ["a-no-serverhello", "b-drip"])
def test_S18_tls_waits_end_at_the_timeout(mailhop, fault, fault_conf, tls,
                                          case):
    """(a) the ClientHello is never answered; (b) the greeting inside TLS
    comes one byte of the TLS record at a time."""
    if case == "a-no-serverhello":
        s_ = sc(tls=tls, handshake=[ReadSome(), Stall()])
    elif tls == "implicit":
        s_ = sc(tls=tls, greeting=Drip(b"220 fault.example.org slow\r\n",
                                       0.2, raw=True))
    else:
        s_ = sc(tls=tls, replies={"EHLO@tls": Drip(
            b"250 fault.example.org slow\r\n", 0.2, raw=True)})
    srv = fault(s_)
    t = time.monotonic()
    res = run(mailhop, fault_conf, srv, timeout=1)
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "timed out")
    assert 0.9 < elapsed < 4, elapsed
    assert_nothing_sent(only(srv))


def cpu_seconds(pid):
    """utime + stime of a process so far, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("case", ["a-no-serverhello", "b-drip"])
def test_S18_cpu_idle_while_waiting(mailhop, fault, fault_conf, case):
    """The waits of S18 (a) and (b) are polls, not loops: over 3 s of a
    stall, mailhop uses under 0.2 s of CPU."""
    if case == "a-no-serverhello":
        s_ = sc(handshake=[ReadSome(), Stall()])
    else:
        s_ = sc(replies={"EHLO@tls": Drip(b"250 fault.example.org slow"
                                          b"\r\n", 0.2, raw=True)})
    srv = fault(s_)
    path = fault_conf(srv, timeout=5, password=PASSWORD)
    p = mailhop.spawn(["-C", path, "--", RCPT])
    p.stdin.write(MESSAGE)
    p.stdin.close()
    time.sleep(1)
    before = cpu_seconds(p.pid)
    time.sleep(3)
    used = cpu_seconds(p.pid) - before
    p.wait(20)
    err = p.stderr.read()
    p.stdout.close()
    p.stderr.close()
    assert p.returncode == 75, err
    lines = err.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mailhop: ") and \
        "timed out" in lines[0], err
    assert used < 0.2, used
    assert srv.wait_idle(5)
    assert_nothing_sent(only(srv))


@pytest.mark.parametrize("case", ["key-update", "key-update-twice"])
def test_S18_key_update(mailhop, fault, fault_conf, case):
    """(c) TLS 1.3: the server sends a KeyUpdate that asks for the
    client's (before the MAIL reply; twice: before MAIL's and DATA's);
    what follows is under new keys on both sides, and the message is
    delivered."""
    v = V.TLSv1_3
    replies = {"MAIL@tls": [KeyUpdate(), "250 2.1.0 Ok"]}
    if case == "key-update-twice":
        replies["DATA@tls"] = [KeyUpdate(), "354 go ahead"]
    srv = fault(sc(tls_versions=(v, v), ehlo_tls=["AUTH PLAIN"],
                   replies=replies))
    res = run(mailhop, fault_conf, srv)
    assert res.rc == 0 and res.stderr == "", res
    s = only(srv)
    assert s.tls_version == "TLSv1.3" and len(s.messages) == 1, s
    assert s.events.count("sent KeyUpdate") == (2 if "twice" in case
                                                else 1), s.events
    assert s.verbs("tls")[-1] == "QUIT", s


def test_S18_renegotiation_refused(mailhop, fault, fault_conf):
    """(c) TLS 1.2: a HelloRequest before the MAIL reply is refused; no
    second handshake, nothing more sent."""
    v = V.TLSv1_2
    srv = fault(sc(tls_versions=(v, v), ehlo_tls=["AUTH PLAIN"],
                   replies={"MAIL@tls": [Renegotiate(), "250 2.1.0 Ok"]}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "server asked for TLS renegotiation "
                     "(refused) (localhost, at MAIL); the message was not "
                     "sent")
    s = only(srv)
    assert "sent HelloRequest" in s.events, s.events
    assert s.verbs("tls") == ["EHLO", "AUTH", "MAIL"], s
    assert not s.messages


V = ssl.TLSVersion


@pytest.mark.parametrize("versions,ok", [
    ((V.TLSv1_2, V.TLSv1_2), True),
    ((V.TLSv1_3, V.TLSv1_3), True),
    ((V.TLSv1_1, V.TLSv1_1), False),
    ((V.TLSv1, V.TLSv1), False),
], ids=["1.2", "1.3", "1.1", "1.0"])
def test_S16_tls_version_floor(mailhop, fault, fault_conf, versions, ok):
    srv = fault(sc(tls_versions=versions, ciphers="DEFAULT:@SECLEVEL=0"))
    res = run(mailhop, fault_conf, srv)
    s = only(srv)
    if ok:
        check_ok(res)
        assert s.tls_version == versions[0].name.replace("_", "."), s
    else:
        check_error_line(res, 69, "protocol version")
        assert s.tls_version is None and not s.post
        assert_nothing_sent(s)


def test_S22_no_password_without_tls(mailhop, fault, fault_conf):
    srv = fault(sc(tls="none", ehlo=["AUTH PLAIN LOGIN", "PIPELINING"]))
    res = run(mailhop, fault_conf, srv, tls="off", auth="on", user="alice",
              connections=0)
    # refused when the configuration is read: no connection at all
    check_error_line(res, 78, "tls: auth over an unencrypted connection "
                     "would send the password in clear (set tls = "
                     "starttls or implicit)")
    time.sleep(0.2)
    assert srv.connections == 0 and not srv.sessions


S13_FAIL = [
    ("mail.example.org", "other-name"),
    ("mail.example.org", "m-star-l"),
    ("mail.example.org", "star-org"),
    ("mail.example.org", "san-x-cn-mail"),
    ("mail.example.org", "suffix-evil"),
    ("mail.example.org", "ail"),
    ("a.b.example.org", "star-example"),
    # RFC 9525 6.3: a wildcard is the whole left-most label.  GnuTLS
    # alone accepts "*ail.example.org" (lib/str.c); tls.c's
    # wildcard_ok refuses it, also when a CN would allow the name.
    ("mail.example.org", "star-ail"),
    ("mail.example.org", "san-star-ail-cn-star"),
]
S13_PASS = [
    ("mail.example.org", "star-example"),
    ("mail.example.org", "upper"),
    ("mail.example.org", "cn-only"),   # CN fallback: no DNS-ID at all
    ("mail.example.org", "cn-star"),   # the same with a wildcard
    ("mail.example.org", "san-other-and-star"),  # the second DNS-ID
]


@pytest.mark.parametrize("host,cert", S13_FAIL,
                         ids=["%s-%s" % x for x in S13_FAIL])
def test_S13_name_mismatch(mailhop_hosts, fault, fault_conf, fault_pki,
                           host, cert):
    """Certificates from the trusted CA for names that do not match (the
    NUL cases: test_S13_nul_in_name)."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_hosts, fault_conf, srv, host=host)
    check_error_line(res, 69, "not trusted", "does not match")
    s = only(srv)
    assert s.sni == host
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("cert,word", [
    ("star-example-expired", "expired"),
    ("star-example-unknown-ca", "issuer is unknown"),
])
def test_S13_wildcard_with_another_fault(mailhop_hosts, fault, fault_conf,
                                         fault_pki, cert, word):
    """A whole-label wildcard that matches the name does not excuse
    anything else: the chain is checked again without the name, and its
    verdict is taken whole (tls.c recheck_without_name)."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_hosts, fault_conf, srv, host="mail.example.org")
    line = check_error_line(res, 69, "not trusted", word)
    assert "does not match" not in line, line
    s = only(srv)
    assert s.sni == "mail.example.org"
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("cert", ["nul-cn", "nul-san"])
def test_S13_nul_in_name(mailhop, fault, fault_conf, fault_pki, cert):
    """A name with a NUL byte, signed by the trusted CA: "localhost\\0
    .evil.test" as the CN (no SAN) or as the only DNS SAN, for host
    localhost.  GnuTLS compares the whole name, so it does not match."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    with open(fault_pki.cert(cert)[0], "rb") as f:
        crt = x509.load_pem_x509_certificate(f.read())
    if cert == "nul-cn":
        names = [a.value for a in crt.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)]
    else:
        names = crt.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(
                x509.DNSName)
    assert names == [NUL_NAME], names       # the fixture is what it says
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop, fault_conf, srv, host="localhost")
    check_error_line(res, 69, "not trusted", "does not match")
    s = only(srv)
    assert s.sni == "localhost"
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("host,cert", S13_PASS,
                         ids=["%s-%s" % x for x in S13_PASS])
def test_S13_name_match(mailhop_hosts, fault, fault_conf, fault_pki, host,
                        cert):
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_hosts, fault_conf, srv, host=host)
    check_ok(res)
    assert only(srv).messages


@pytest.mark.parametrize("host,cert,ok", [x + (False,) for x in S13_FAIL]
                         + [x + (True,) for x in S13_PASS],
                         ids=["%s-%s" % x for x in S13_FAIL + S13_PASS])
def test_S15_system_trust_S13_names(mailhop_trust_hosts, fault, fault_conf,
                                    fault_pki, host, cert, ok):
    """S13's names against the system trust store holding the test CA
    alone: the same verdicts as with tls_ca_file."""
    srv = fault(sc(cert=fault_pki.cert(cert)))
    res = run(mailhop_trust_hosts, fault_conf, srv, ca_file=None,
              host=host)
    s = only(srv)
    if ok:
        check_ok(res)
        assert s.tls_version and len(s.messages) == 1, s
        return
    check_error_line(res, 69, "not trusted", "does not match")
    assert s.sni == host
    assert s.tls_version is None and not s.post
    assert_nothing_sent(s)


def test_S14_ip_literal_uses_ip_san(mailhop, fault, fault_conf,
                                    fault_pki):
    srv = fault(sc(cert=fault_pki.cert("ip-only")))
    res = run(mailhop, fault_conf, srv, host="127.0.0.1")
    check_ok(res)
    s = only(srv)
    assert s.sni is None and s.sni_seen and s.sni_hello is None


def test_S14_ip_literal_not_matched_by_dns_name(mailhop, fault, fault_conf,
                                               fault_pki):
    srv = fault(sc(cert=fault_pki.cert("dns-localhost-only")))
    res = run(mailhop, fault_conf, srv, host="127.0.0.1")
    check_error_line(res, 69, "not trusted")
    s = only(srv)
    assert not s.post
    assert_nothing_sent(s)


@pytest.mark.parametrize("host,sni", [("localhost", "localhost"),
                                      ("127.0.0.1", None), ("::1", None),
                                      ("[::1]", None), ("[127.0.0.1]", None)])
def test_S14_sni(mailhop, fault, fault_conf, fault_pki, host, sni):
    """R6: a literal in brackets, as URLs write IPv6 ones, is the same
    address: no SNI, matched against the iPAddress names."""
    if ":" in host:
        try:
            with socket.socket(socket.AF_INET6) as t:
                t.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback here")
    srv = fault(sc(cert=fault_pki.cert("ip-only" if ":" in host
                                       or "[" in host else "default")),
                host="::1" if ":" in host else "127.0.0.1")
    res = run(mailhop, fault_conf, srv, host=host)
    check_ok(res)
    s = only(srv)
    assert s.sni_seen and s.sni == sni and s.sni_hello == sni


def test_S14_bracketed_name_is_refused(mailhop, fault, fault_conf):
    """R6: brackets hold an address; a name in them is a configuration
    error with the fix, before any connection."""
    srv = fault(sc())
    res = run(mailhop, fault_conf, srv, host="[localhost]", connections=0)
    check_error_line(res, 78, "host [localhost]: brackets hold an IP "
                     "address only (write host = ")
    assert srv.connections == 0


def test_S14_reference_identity_is_the_configured_name(
        mailhop_hosts, fault, fault_conf):
    """mail.example.org resolves (through /etc/hosts) to 127.0.0.1, which
    the harness's certificate names, with localhost: the name checked is
    still the configured one."""
    srv = fault(sc())
    res = run(mailhop_hosts, fault_conf, srv, host="mail.example.org")
    check_error_line(res, 69, "not trusted", "does not match")
    s = only(srv)
    assert s.sni == "mail.example.org" and not s.post
    assert_nothing_sent(s)


def test_S19_close_after_final_dot_is_not_success(mailhop, fault,
                                                  fault_conf):
    srv = fault(sc(replies={"DOT": Close(notify=False)}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 75, "uncertain")
    assert only(srv).messages  # the server did get it


def test_S19_close_after_221_without_close_notify(mailhop, fault,
                                                  fault_conf):
    srv = fault(sc(replies={"QUIT": ["221 2.0.0 Bye", Close(notify=False)]}))
    res = run(mailhop, fault_conf, srv)
    assert res.rc == 0 and res.stderr == "", res
    assert only(srv).verbs("tls")[-1] == "QUIT"


# ---------------------------------------------------------------- C


@pytest.mark.parametrize("offer,mech", [
    ("AUTH ANONYMOUS GSSAPI OPENID20 SAML20 NTLM CRAM-MD5 PLAIN", "PLAIN"),
    ("AUTH SCRAM-SHA-1-PLUSX PLAIN", "PLAIN"),
    ("AUTH PLAINX CRAM-MD5 DIGEST-MD5 LOGIN", "LOGIN"),
    ("AUTH=LOGIN", "LOGIN"),
    ("AUTH GSSAPI", None),
    ("AUTH EXTERNAL ANONYMOUS", None),
], ids=["exotic+PLAIN", "PLUSX", "PLAINX", "AUTH=", "GSSAPI", "EXTERNAL"])
def test_S21_mechanism_choice(mailhop, fault, fault_conf, offer, mech):
    srv = fault(sc(ehlo_tls=["PIPELINING", offer]))
    res = run(mailhop, fault_conf, srv)
    s = only(srv)
    if mech is None:
        check_error_line(res, 69, "no usable mechanism")
        assert "AUTH" not in s.verbs()
    else:
        check_ok(res)
        assert [m for m, _ in s.auth] == [mech] and s.auth_ok


def login_with_challenge(challenge):
    return sc(ehlo_tls=["AUTH LOGIN"], replies={
        "AUTH": challenge,
        "AUTH_RESPONSE": Seq("334 UGFzc3dvcmQ6", "235 2.7.0 ok")})


def test_S25_20KB_challenge(mailhop, fault, fault_conf):
    """RFC 4954 4: a challenge of any length; io allows the 334 lines of
    AUTH up to 64 KiB (IO_LONG_LINE_MAX), other replies 4 KiB."""
    ch = base64.b64encode(b"Username:" + b"u" * 15000).decode()
    assert len(ch) > 20000
    srv = fault(login_with_challenge("334 " + ch))
    res = run(mailhop, fault_conf, srv)
    assert res.rc == 0 and res.stderr == "", res
    s = only(srv)
    assert b"AUTH LOGIN\r\nYWxpY2U=\r\n" in s.post and len(s.messages) == 1


@pytest.mark.parametrize("extra,ok", [(0, True), (3, False)])
def test_S25_challenge_cap(mailhop, fault, fault_conf, extra, ok):
    """The whole 334 line may be 64 KiB: 65,536 bytes pass; the next
    valid base64 length (65,540) is refused."""
    line = "334 " + base64.b64encode(b"u" * (49149 + extra)).decode()
    assert len(line) == 65536 + 4 * (extra > 0)
    srv = fault(login_with_challenge(line))
    res = run(mailhop, fault_conf, srv)
    s = only(srv)
    if ok:
        assert res.rc == 0 and res.stderr == "", res
        assert b"AUTH LOGIN\r\nYWxpY2U=\r\n" in s.post
        assert len(s.messages) == 1
    else:
        check_error_line(res, 76, "AUTH LOGIN with localhost cancelled "
                         "(\"*\"): the server sent a line longer than "
                         "65536 bytes; the message was not sent")
        assert s.auth_raw == [b"*"], s.auth_raw  # cancelled, then abort
        assert s.verbs("tls") == ["EHLO", "AUTH", "<AUTH>"], s


def test_S25_1MB_challenge_refused(mailhop, fault, fault_conf):
    """The 1 MB line is read to its end and dropped after the "*", so
    that the server, still writing it, reads the "*" and answers."""
    ch = base64.b64encode(b"u" * 786432).decode()
    srv = fault(login_with_challenge("334 " + ch))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "AUTH LOGIN with localhost cancelled",
                     "longer than 65536 bytes", "the message was not sent")
    s = only(srv)
    assert s.auth_raw == [b"*"], s.auth_raw
    assert s.verbs("tls") == ["EHLO", "AUTH", "<AUTH>"], s


def test_S25_challenge_not_base64(mailhop, fault, fault_conf):
    srv = fault(login_with_challenge("334 !!not*base64!!"))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "not base64")
    s = only(srv)
    assert s.auth_raw == [b"*"], s.auth_raw  # cancelled, nothing else
    assert not {"MAIL", "RCPT"} & set(s.verbs())


def test_S25_premature_235(mailhop, fault, fault_conf):
    srv = fault(sc(ehlo_tls=["AUTH SCRAM-SHA-256"],
                   replies={"AUTH": "235 2.7.0 trust me"}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 76, "before the exchange was complete")
    assert not {"MAIL", "RCPT"} & set(only(srv).verbs())


def test_S25_454(mailhop, fault, fault_conf):
    srv = fault(sc(replies={"AUTH": "454 4.7.0 Temporary authentication "
                            "failure"}))
    res = run(mailhop, fault_conf, srv)
    check_error_line(res, 75, "454")
    assert not {"MAIL", "RCPT"} & set(only(srv).verbs())


def secret_forms(s):
    """The password, and every line the client sent inside AUTH, raw and
    decoded (longer than 3 bytes, so that "=" or "" do not count)."""
    forms = {PASSWORD, base64.b64encode(PASSWORD.encode()).decode(),
             base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode(),
             base64.b64encode(b"alice\0alice\0"
                              + PASSWORD.encode()).decode()}
    for raw in s.auth_raw:
        forms.add(raw.decode("latin-1"))
        try:
            forms.add(base64.b64decode(raw).decode("latin-1"))
        except ValueError:
            pass
    for _, decoded in s.auth:
        for d in decoded:
            forms.add(d.decode("latin-1").replace("\0", "\\0"))
    return {f for f in forms if len(f) > 3 and f not in ("alice",)}


@pytest.mark.parametrize("mech", ["plain", "login", "scram-sha-1",
                                  "scram-sha-256"])
def test_S34_no_secrets_in_transcript_or_log(servers, mailhop, fault,
                                             fault_conf, mech):
    srv = fault(sc())
    res = run(mailhop, fault_conf, srv, args=["-v"], auth=mech)
    assert res.rc == 0, res
    s = only(srv)
    assert s.auth_ok and s.auth[0][0] == mech.upper()
    # each line of the exchange shows as its length only, both ways
    for raw in s.auth_raw:
        assert "<redacted, %d byte%s>" % (
            len(raw), "" if len(raw) == 1 else "s") in res.stderr, res.stderr
    for ch in s.challenges:
        assert "<-- 334 <redacted, %d bytes>" % len(ch) in res.stderr
    assert res.stderr.count("<redacted, ") == len(s.auth_raw) + len(
        s.challenges), res.stderr
    log = servers.mailhop_syslog(res.pid)
    for f in secret_forms(s):
        assert f not in res.stderr, (f, res.stderr)
        assert f not in log, (f, log)


@pytest.mark.parametrize("mech", ["scram-sha-1", "scram-sha-256"])
def test_S34_no_scram_challenges_in_transcript(mailhop, fault, fault_conf,
                                               mech):
    """The server's SCRAM challenges (salt, iteration count, nonces and
    its signature) would allow offline guessing: -v shows none."""
    srv = fault(sc())
    res = run(mailhop, fault_conf, srv, args=["-v"], auth=mech)
    assert res.rc == 0, res
    s = only(srv)
    assert len(s.challenges) == 2
    for ch in s.challenges:
        assert ch.decode() not in res.stderr
        assert base64.b64decode(ch).decode() not in res.stderr


# ---------------------------------------------------------------- F


S39_CASES = [
    ("2", 76, "malformed"),
    ("25", 76, "malformed"),
    ("250", 0, None),                      # a bare code is a reply
    # a lost connection, not malformed: 75 (DEPARTURES, S39)
    ([b"250-\r\n", Close()], 75, "connection lost"),
    ("250-a\n251 b", 76, "code changed"),
    ("2500 ok", 76, "malformed"),
    ("abc", 76, "malformed"),
    ("250\x00x", 76, "NUL"),
    ("250 " + "x" * (1 << 20), 76, "longer than"),
    ("250-x\n" * 100000 + "250 ok", 76, "1000 lines"),
]


@pytest.mark.parametrize("reply,code,word", S39_CASES,
                         ids=["2", "25", "250", "250-EOF", "250-251",
                              "2500", "abc", "NUL", "1MB-line",
                              "100000-lines"])
def test_S39_malformed_replies(mailhop_asan, fault, fault_conf, reply, code,
                               word):
    """As the reply to MAIL, on a plain connection, with the sanitizer
    build (a crash or an ASan/UBSan report fails the test)."""
    srv = fault(sc(tls="none", ehlo=["8BITMIME"], replies={"MAIL": reply}))
    res = run(mailhop_asan, fault_conf, srv)
    assert "Sanitizer" not in res.stderr and "runtime error" not in \
        res.stderr, res.stderr
    if code == 0:
        check_ok(res)
        assert only(srv).messages
    else:
        check_error_line(res, code, word)
        assert "DATA" not in only(srv).verbs()


def test_S39_huge_size_keyword(mailhop_asan, fault, fault_conf):
    srv = fault(sc(tls="none", ehlo=["SIZE 99999999999999999999",
                                     "PIPELINING"]))
    res = run(mailhop_asan, fault_conf, srv)
    check_ok(res)
    s = only(srv)
    assert s.messages
    mail = [c[1] for c in s.commands if c[1].startswith(b"MAIL")][0]
    # "no limit known": any SIZE= we declare is the message's own size
    m = re.search(rb"SIZE=(\d+)", mail)
    assert m is None or int(m.group(1)) < 10000, mail


@pytest.mark.parametrize("case", ["drip", "silent", "drip-multiline"])
def test_S40_drip_and_silence_end_at_the_timeout(mailhop, fault,
                                                 fault_conf, case):
    """The deadline is the whole reply's, fixed when the command went
    (DEPARTURES): a server dripping a byte every 0.3 s, which would take
    11 s for the greeting, or a multi-line EHLO reply whose every line
    comes in time, cannot stretch it past the 1 s timeout."""
    greeting = (Drip(b"220 fault.example.org slow greeting\r\n", 0.3)
                if case == "drip" else Stall() if case == "silent"
                else "220 fault.example.org")
    replies = {}
    if case == "drip-multiline":
        replies["EHLO"] = Drip(b"250-fault.example.org\r\n250-PIPELINING"
                               b"\r\n250 STARTTLS\r\n", 0.03)
    srv = fault(sc(greeting=greeting, replies=replies))
    t = time.monotonic()
    res = run(mailhop, fault_conf, srv, timeout=1)
    elapsed = time.monotonic() - t
    check_error_line(res, 75, "timed out")
    assert 0.9 < elapsed < 4, elapsed
    assert_nothing_sent(only(srv))


def test_S40_slow_final_reply_within_the_allowed_time(mailhop, fault,
                                                      fault_conf):
    """The reply to the final dot may take longer than the account's
    timeout (RFC 5321 4.5.3.2.6 gives it 10 minutes)."""
    srv = fault(sc(replies={"DOT": [Sleep(2.5), "250 2.0.0 Ok: slow"]}))
    t = time.monotonic()
    res = run(mailhop, fault_conf, srv, timeout=1)
    check_ok(res)
    assert time.monotonic() - t >= 2.5
    assert only(srv).messages
