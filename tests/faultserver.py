# SPDX-License-Identifier: ISC
"""A scriptable, fault-injecting SMTP server for mailhop's security tests
(security.md note N8; the knobs mirror the NO STARTTLS study's EAST).

It runs an asyncio loop in a background thread, listens on 127.0.0.1 (or
::1) on an ephemeral port, and does TLS itself over memory BIOs (ssl's
SSLObject), so every byte is under the scenario's control: what the client
sent is recorded raw, split into before TLS and after TLS, and the server
can inject bytes behind a reply, drip, stall, close without close_notify
or reset the connection at any point.  It always stops by itself: every
read has a timeout, every connection a time cap and the server a lifetime.

Writing a scenario
------------------
A Scenario is plain data; everything has a sane default, so a scenario
names only what it changes:

    Scenario(
        greeting="220 mx ESMTP",            # reply spec, see below
        ehlo=["PIPELINING", "STARTTLS"],    # keywords before TLS
        ehlo_tls=["AUTH PLAIN LOGIN"],      # keywords after TLS
        starttls=b"220 Go\\r\\n250 injected\\r\\n",  # the 220, with extras
        starttls_switch=True,               # really start TLS after a 220
        replies={"MAIL": "550 5.7.1 no",    # per-command overrides
                 "EHLO@tls": "502 no",      # only inside TLS (@plain too)
                 "DOT": [Sleep(3), "250 ok"]},  # reply to the final dot
        ignore_tls=["EHLO"],                # first EHLO in TLS: no reply
        tls="starttls",                     # or "implicit" or "none"
        handshake=None,                     # or actions instead of TLS
        cert=(certfile, keyfile),
        tls_versions=(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
        ciphers="DEFAULT:@SECLEVEL=0",      # OpenSSL cipher string
        share_context=True,                 # one SSLContext (tickets)
        client_ca=cafile,                   # ask for a client certificate
        cb_tamper=True,                     # SCRAM-PLUS: wrong binding
        no_ems=True,                        # TLS 1.2 without EMS
        user="alice", password="pw")        # checked by AUTH if set

Reply specs (for greeting, starttls and every replies[] value):
  str      reply lines; each "\\n"-separated line gets CRLF
           ("250-a\\n250 b" is a multi-line reply); latin-1, so any byte
  bytes    sent exactly as given, in one write
  action   Send(b), Sleep(s), Drip(b, interval, raw=False),
           Close(notify=False), Reset(), Stall(), ReadSome(),
           KeyUpdate() (TLS 1.3: a KeyUpdate asking for the client's),
           Renegotiate() (TLS 1.2: a HelloRequest)
  list     the above, in order (one write each)
  Seq(a, b, ...)  first use a, then b, ...; the last one repeats
  callable fn(session, line) -> a spec
Keys of replies: the command verb in capitals (EHLO, HELO, STARTTLS,
AUTH, MAIL, RCPT, DATA, BDAT, RSET, NOOP, QUIT, or any other word),
"GREETING", "DOT" (the reply to the end of the message: after DATA's
dot, or to BDAT LAST) and "AUTH_RESPONSE" (the reply to each line the
client sends inside an AUTH exchange that an AUTH override began with
334).  "VERB@tls" and "VERB@plain" apply in one phase
only and win over "VERB".  Without an override the server behaves like a
plain submission server: EHLO lists the phase's keywords, STARTTLS says
220 and starts TLS, AUTH runs PLAIN, LOGIN, SCRAM-SHA-1 or SCRAM-SHA-256
for real, DATA reads the message up to the dot, BDAT (offered when the
scenario lists CHUNKING) takes its chunks, QUIT says 221 and closes with
close_notify.

What is recorded (FaultServer.sessions, one Session per connection):
pre and post (bytes the client sent before and after the TLS start;
ClientHello and other TLS records are in neither), commands ((phase,
line, more) with more=True when further client bytes were already there,
that is, the client pipelined), sni, tls_version, tls_error, hello_ext
(the ClientHello's extensions by type), resumed, peer_cert (the client
certificate, as getpeercert() gives it), messages, auth (mechanism and
decoded responses).  FaultServer.connections counts
TCP connections.

    with FaultServer(Scenario(...)) as srv:
        run the client against srv.port
        srv.wait_idle()
        srv.sessions[0].pre
"""

import asyncio
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import os
import socket
import ssl
import struct
import threading
import time
import warnings

CRLF = b"\r\n"


# ------------------------------------------------------------ actions

class Action:
    pass


class Send(Action):
    def __init__(self, data):
        self.data = data if isinstance(data, bytes) else data.encode("latin-1")


class Sleep(Action):
    def __init__(self, seconds):
        self.seconds = seconds


class Drip(Action):
    """Send data one byte at a time, interval seconds apart.  Inside TLS
    each byte is a TLS record of its own; with raw=True the data is
    encrypted as one record whose bytes are dripped instead."""

    def __init__(self, data, interval, raw=False):
        self.data = data if isinstance(data, bytes) else data.encode("latin-1")
        self.interval = interval
        self.raw = raw


class Close(Action):
    """Close the TCP connection; inside TLS, with a close_notify alert only
    if notify."""

    def __init__(self, notify=False):
        self.notify = notify


class Reset(Action):
    """Close with a TCP RST (SO_LINGER 0)."""


class Stall(Action):
    """Say nothing until the client closes (or the session's time cap)."""


class ReadSome(Action):
    """Wait (up to 2 s) for raw bytes from the client and drop them (say,
    a ClientHello the scenario will not answer)."""


class KeyUpdate(Action):
    """TLS 1.3: send a KeyUpdate that asks the client to update its keys
    too (SSL_key_update with SSL_KEY_UPDATE_REQUESTED); what follows is
    encrypted with the new keys."""


class Renegotiate(Action):
    """TLS 1.2: ask the client to renegotiate (SSL_renegotiate: a
    HelloRequest).  The server then goes on as if nothing happened."""


class Seq:
    """Successive uses give successive specs; the last one repeats."""

    def __init__(self, *specs):
        self.specs = list(specs)
        self.used = 0

    def next(self):
        spec = self.specs[min(self.used, len(self.specs) - 1)]
        self.used += 1
        return spec


DEFAULT_EHLO = ["PIPELINING", "SIZE 10240000", "STARTTLS",
                "ENHANCEDSTATUSCODES", "8BITMIME"]
DEFAULT_EHLO_TLS = ["PIPELINING", "SIZE 10240000",
                    "AUTH PLAIN LOGIN SCRAM-SHA-1 SCRAM-SHA-256",
                    "ENHANCEDSTATUSCODES", "8BITMIME"]


class Scenario:
    def __init__(self, greeting="220 fault.example.org ESMTP fault server",
                 ehlo=None, ehlo_tls=None, starttls="220 2.0.0 Ready to "
                 "start TLS", starttls_switch=True, replies=None,
                 ignore_tls=(), tls="starttls", handshake=None, cert=None,
                 user=None, password=None, name="fault.example.org",
                 read_timeout=10.0, session_timeout=30.0, scram_iter=4096,
                 tls_versions=None, ciphers=None, share_context=False,
                 client_ca=None, cb_tamper=False, no_ems=False):
        self.greeting = greeting
        self.ehlo = list(DEFAULT_EHLO if ehlo is None else ehlo)
        self.ehlo_tls = list(DEFAULT_EHLO_TLS if ehlo_tls is None
                             else ehlo_tls)
        self.starttls = starttls
        self.starttls_switch = starttls_switch
        self.replies = dict(replies or {})
        self.ignore_tls = list(ignore_tls)
        self.tls = tls
        self.handshake = handshake
        self.cert = cert
        self.user = user
        self.password = password
        self.name = name
        self.read_timeout = read_timeout
        self.session_timeout = session_timeout
        self.scram_iter = scram_iter
        self.tls_versions = tls_versions
        self.ciphers = ciphers
        # One SSLContext for every connection (its session ticket keys
        # too), so a client could resume; no SNI record then.
        self.share_context = share_context
        # A CA file: ask for a client certificate and check it with that.
        self.client_ca = client_ca
        # SCRAM-*-PLUS: compute the channel binding one byte off, as a
        # server on the far side of a man in the middle would.
        self.cb_tamper = cb_tamper
        # TLS 1.2 without the extended master secret (RFC 7627).
        self.no_ems = no_ems


class Session:
    def __init__(self, n):
        self.n = n
        self.pre = bytearray()
        self.post = bytearray()
        self.commands = []      # (phase, line without CRLF, more)
        self.sni = None
        self.sni_seen = False   # the ClientHello was parsed
        self.sni_hello = None   # server_name read from it by hand
        self.tls_version = None
        self.tls_error = None
        self.hello_ext = None   # ClientHello extension types -> bodies
        self.resumed = None     # the TLS session was resumed
        self.peer_cert = None   # client certificate (getpeercert())
        self.scram = None       # the ScramServer of the last SCRAM AUTH
        self.cb = None          # (type, bytes) of the channel binding
        self.messages = []
        self.auth = []          # (mechanism, [decoded client responses])
        self.auth_raw = []      # the client's AUTH lines as sent (base64)
        self.challenges = []    # our 334 texts as sent (base64)
        self.raw = bytearray()  # bytes ReadSome() took (no TLS parsing)
        self.auth_ok = False
        self.events = []        # what the server did, for failure messages
        self.closed = False
        self.error = None

    @property
    def phase(self):
        return "tls" if self.tls_version else "plain"

    def verbs(self, phase=None):
        return [c[1].split(b" ", 1)[0].upper().decode("latin-1")
                for c in self.commands if phase in (None, c[0])]

    def __repr__(self):
        return ("<Session %d pre=%r post=%r sni=%r tls=%r err=%r events=%r>"
                % (self.n, bytes(self.pre)[:300], bytes(self.post)[:300],
                   self.sni, self.tls_version, self.tls_error,
                   self.events[-8:]))


class Closed(Exception):
    """The connection is gone (either side)."""


# ------------------------------------------------------------ SCRAM

def _scram_attrs(s):
    out = {}
    for part in s.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


class ScramServer:
    def __init__(self, hashname, password, iterations, cb=None):
        self.cb = cb            # fn(cb type) -> binding bytes, or None
        self.cb_data = b""
        self.cb_ok = None
        self.h = hashname
        self.password = password
        self.iter = iterations
        self.salt = os.urandom(16)
        self.snonce = base64.b64encode(os.urandom(18)).decode()

    def _hmac(self, key, msg):
        return hmac.new(key, msg, self.h).digest()

    def first(self, client_first):
        gs2, _, bare = client_first.partition(",")
        authz, _, bare = bare.partition(",")
        self.gs2 = gs2 + "," + authz + ","
        self.cbflag = gs2
        if gs2.startswith("p=") and self.cb is not None:
            self.cb_data = self.cb(gs2[2:])
        self.client_bare = bare
        a = _scram_attrs(bare)
        self.user = a.get("n")
        self.nonce = a.get("r", "") + self.snonce
        self.server_first = "r=%s,s=%s,i=%d" % (
            self.nonce, base64.b64encode(self.salt).decode(), self.iter)
        return self.server_first

    def final(self, client_final):
        """server-final-message, or None when the proof is wrong."""
        without, _, proof = client_final.rpartition(",p=")
        a = _scram_attrs(without)
        if a.get("r") != self.nonce:
            return None
        # c=: the gs2 header and, with "p=", the channel binding data
        # (RFC 5802 5.1); cb_data is the server's own idea of it.
        want_c = base64.b64encode(self.gs2.encode() + self.cb_data).decode()
        self.cb_ok = a.get("c") == want_c
        if not self.cb_ok:
            return None
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode(),
                                     self.salt, self.iter)
        ckey = self._hmac(salted, b"Client Key")
        stored = hashlib.new(self.h, ckey).digest()
        auth_msg = ",".join([self.client_bare, self.server_first,
                             without]).encode()
        csig = self._hmac(stored, auth_msg)
        want = bytes(x ^ y for x, y in zip(ckey, csig))
        if base64.b64decode(proof) != want:
            return None
        ssig = self._hmac(self._hmac(salted, b"Server Key"), auth_msg)
        return "v=" + base64.b64encode(ssig).decode()


# ------------------------------------------------------------ connection

def _libssl():
    return ctypes.CDLL(ctypes.util.find_library("ssl") or "libssl.so.3")


def _ssl_pointer(tls):
    """The OpenSSL SSL pointer of an ssl.SSLObject: CPython 3.11 keeps it
    right after the socket weakref in its _ssl._SSLSocket object (test
    code only: the layout is checked by the TLS version read back)."""
    libssl = _libssl()
    get_version = libssl.SSL_get_version
    get_version.argtypes = [ctypes.c_void_p]
    get_version.restype = ctypes.c_char_p
    ptr = ctypes.c_void_p.from_address(id(tls._sslobj) + 2 * 8 + 8).value
    if get_version(ptr).decode() != tls.version():
        raise RuntimeError("unexpected _ssl object layout")
    return libssl, ptr


def _tls_exporter(tls):
    """RFC 9266 tls-exporter of an ssl.SSLObject: 32 bytes exported with
    the label "EXPORTER-Channel-Binding" and an empty context (under TLS
    1.2 a context of length 0, which RFC 5705 tells from none; GnuTLS
    does the same).  Python's ssl
    module has no exporter, so this calls OpenSSL's
    SSL_export_keying_material (_ssl_pointer)."""
    libssl, ptr = _ssl_pointer(tls)
    export = libssl.SSL_export_keying_material
    export.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                       ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                       ctypes.c_size_t, ctypes.c_int]
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    if export(ptr, out, 32, label, len(label), b"", 0, 1) != 1:
        raise RuntimeError("SSL_export_keying_material failed")
    return out.raw


def _hello_extensions(data):
    """{type: body} of the first ClientHello's extensions; None when the
    record is incomplete or not a ClientHello."""
    try:
        if len(data) < 5 or data[0] != 0x16:
            return None
        rlen = struct.unpack(">H", data[3:5])[0]
        rec = data[5:5 + rlen]
        if len(rec) < rlen or rec[0] != 1:
            return None
        p = 4 + 2 + 32
        p += 1 + rec[p]
        p += 2 + struct.unpack(">H", rec[p:p + 2])[0]
        p += 1 + rec[p]
        out = {}
        if p + 2 > len(rec):
            return out
        end = p + 2 + struct.unpack(">H", rec[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            typ, ln = struct.unpack(">HH", rec[p:p + 4])
            out[typ] = bytes(rec[p + 4:p + 4 + ln])
            p += 4 + ln
        return out
    except (IndexError, struct.error):
        return None


def _sni_from_client_hello(data):
    """The server_name of the first ClientHello in raw TLS bytes; None
    when absent; ... when the record is incomplete or not a ClientHello."""
    try:
        if len(data) < 5 or data[0] != 0x16:
            return ...
        rlen = struct.unpack(">H", data[3:5])[0]
        rec = data[5:5 + rlen]
        if len(rec) < rlen or rec[0] != 1:
            return ...
        p = 4 + 2 + 32
        p += 1 + rec[p]                                   # session id
        p += 2 + struct.unpack(">H", rec[p:p + 2])[0]     # cipher suites
        p += 1 + rec[p]                                   # compression
        if p + 2 > len(rec):
            return None
        end = p + 2 + struct.unpack(">H", rec[p:p + 2])[0]
        p += 2
        while p + 4 <= end:
            typ, ln = struct.unpack(">HH", rec[p:p + 4])
            body = rec[p + 4:p + 4 + ln]
            if typ == 0:
                q = 2
                while q + 3 <= len(body):
                    nt, nl = body[q], struct.unpack(">H", body[q + 1:q + 3])[0]
                    if nt == 0:
                        return body[q + 3:q + 3 + nl].decode("latin-1")
                    q += 3 + nl
                return None
            p += 4 + ln
        return None
    except (IndexError, struct.error):
        return ...


class Conn:
    def __init__(self, server, reader, writer, sess):
        self.srv = server
        self.sc = server.scenario
        self.reader = reader
        self.writer = writer
        self.s = sess
        self.buf = bytearray()      # plaintext received, not yet consumed
        self.tls = None
        self.inbio = self.outbio = None
        self.chunks = []            # BDAT chunks of the message so far

    # -- raw I/O

    async def _raw_read(self, timeout=None):
        try:
            data = await asyncio.wait_for(
                self.reader.read(65536),
                self.sc.read_timeout if timeout is None else timeout)
        except asyncio.TimeoutError:
            self.s.events.append("read timeout")
            raise Closed("read timeout")
        except (ConnectionError, OSError) as e:
            raise Closed(str(e))
        if not data:
            raise Closed("client closed")
        return data

    async def _raw_write(self, data):
        if self.writer.is_closing():
            raise Closed("closed")
        self.writer.write(data)
        try:
            await asyncio.wait_for(self.writer.drain(), self.sc.read_timeout)
        except (ConnectionError, OSError, asyncio.TimeoutError) as e:
            raise Closed(str(e) or "write failed")

    async def _flush_tls(self):
        data = self.outbio.read()
        if data:
            await self._raw_write(data)

    async def write(self, data):
        if self.tls is None:
            await self._raw_write(data)
            return
        try:
            self.tls.write(data)
        except ssl.SSLError as e:
            raise Closed("TLS write: %s" % e)
        await self._flush_tls()

    async def fill(self):
        """Read more plaintext from the client into buf."""
        if self.tls is None:
            data = await self._raw_read()
            self.s.pre += data
            self.buf += data
            return
        while True:
            try:
                data = self.tls.read(65536)
            except ssl.SSLWantReadError:
                await self._flush_tls()
                self.inbio.write(await self._raw_read())
                continue
            except ssl.SSLZeroReturnError:
                raise Closed("client sent close_notify")
            except ssl.SSLError as e:
                raise Closed("TLS read: %s" % e)
            if not data:
                raise Closed("client closed")
            self.s.post += data
            self.buf += data
            return

    async def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise Closed("client line over 1 MiB")
            await self.fill()
        i = self.buf.index(b"\n") + 1
        line = bytes(self.buf[:i])
        del self.buf[:i]
        return line.rstrip(b"\r\n"), bool(self.buf)

    # -- TLS

    def _context(self):
        if self.sc.share_context:
            if self.srv.shared_ctx is None:
                self.srv.shared_ctx = self._new_context()
            return self.srv.shared_ctx
        ctx = self._new_context()

        def sni(obj, name, c):
            self.s.sni = name
        ctx.sni_callback = sni
        return ctx

    def _new_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert, key = self.sc.cert or self.srv.default_cert
        ctx.load_cert_chain(cert, key)
        if self.sc.ciphers:
            ctx.set_ciphers(self.sc.ciphers)
        if self.sc.tls_versions:
            with warnings.catch_warnings():  # TLS 1.0 and 1.1 are, yes
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version, ctx.maximum_version = \
                    self.sc.tls_versions
        if self.sc.no_ems:
            ctx.options |= 0x1   # SSL_OP_NO_EXTENDED_MASTER_SECRET
        if self.sc.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(self.sc.client_ca)
        return ctx

    async def handshake(self):
        """Start TLS.  Plaintext the client sent after STARTTLS and before
        the handshake (buf) goes into it, as TCP would have it."""
        self.inbio, self.outbio = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._context().wrap_bio(self.inbio, self.outbio,
                                       server_side=True)
        if self.buf:
            self.s.events.append("plaintext after STARTTLS: %r"
                                 % bytes(self.buf[:100]))
            self.inbio.write(bytes(self.buf))
            self.buf.clear()
        hello = bytearray()
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                try:
                    await self._flush_out(tls)
                    data = await self._raw_read()
                except Closed as e:
                    self.s.tls_error = "handshake: %s" % e
                    raise
                if self.s.hello_ext is None:
                    self.s.hello_ext = _hello_extensions(bytes(hello + data))
                if not self.s.sni_seen:
                    hello += data
                    got = _sni_from_client_hello(bytes(hello))
                    if got is not ...:
                        self.s.sni_seen = True
                        self.s.sni_hello = got
                self.inbio.write(data)
            except ssl.SSLError as e:
                self.s.tls_error = "handshake: %s" % e
                try:
                    await self._flush_out(tls)   # our alert, if any
                except Closed:
                    pass
                raise Closed(self.s.tls_error)
        await self._flush_out(tls)
        self.tls = tls
        self.s.tls_version = tls.version()
        self.s.resumed = tls.session_reused
        self.s.peer_cert = tls.getpeercert()
        self.s.events.append("TLS %s" % tls.version())

    async def tls_event(self, spec):
        """KeyUpdate or Renegotiate on the running session: OpenSSL
        queues the message, SSL_do_handshake writes it."""
        libssl, ptr = _ssl_pointer(self.tls)
        if isinstance(spec, KeyUpdate):
            fn, args, what = libssl.SSL_key_update, [ptr, 1], "KeyUpdate"
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int]
        else:
            fn, args, what = libssl.SSL_renegotiate, [ptr], "HelloRequest"
            fn.argtypes = [ctypes.c_void_p]
        if fn(*args) != 1:
            raise RuntimeError("%s refused by OpenSSL" % what)
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass    # a renegotiation waits for a ClientHello
        self.s.events.append("sent %s" % what)
        await self._flush_tls()

    async def _flush_out(self, tls):
        data = self.outbio.read()
        if data:
            await self._raw_write(data)

    # -- actions

    async def act(self, spec, line=b""):
        """Carry out a reply spec; returns the first reply code it sends
        (str, "" if none)."""
        if spec is None:
            return ""
        if isinstance(spec, Seq):
            return await self.act(spec.next(), line)
        if callable(spec) and not isinstance(spec, Action):
            return await self.act(spec(self.s, line), line)
        if isinstance(spec, (list, tuple)):
            code = ""
            for x in spec:
                c = await self.act(x, line)
                code = code or c
            return code
        if isinstance(spec, str):
            data = b"".join(ln.encode("latin-1") + CRLF
                            for ln in spec.split("\n"))
            spec = Send(data)
        elif isinstance(spec, (bytes, bytearray)):
            spec = Send(bytes(spec))
        if isinstance(spec, Send):
            self.s.events.append("send %r" % spec.data[:80])
            await self.write(spec.data)
            return spec.data[:3].decode("latin-1")
        if isinstance(spec, Sleep):
            await asyncio.sleep(spec.seconds)
            return ""
        if isinstance(spec, Drip):
            self.s.events.append("drip %r" % spec.data[:80])
            data, write = spec.data, self.write
            if spec.raw and self.tls is not None:
                self.tls.write(data)
                data, write = self.outbio.read(), self._raw_write
            for i in range(len(data)):
                await write(data[i:i + 1])
                await asyncio.sleep(spec.interval)
            return spec.data[:3].decode("latin-1")
        if isinstance(spec, Close):
            self.s.events.append("close notify=%s" % spec.notify)
            await self.close(spec.notify)
            raise Closed("closed by scenario")
        if isinstance(spec, Reset):
            self.s.events.append("reset")
            self.reset()
            raise Closed("reset by scenario")
        if isinstance(spec, Stall):
            self.s.events.append("stall")
            while True:
                await self._raw_read(self.sc.session_timeout)
        if isinstance(spec, (KeyUpdate, Renegotiate)):
            await self.tls_event(spec)
            return ""
        if isinstance(spec, ReadSome):
            try:
                self.s.raw += await self._raw_read(2.0)
            except Closed:
                pass
            return ""
        raise TypeError("not a reply spec: %r" % (spec,))

    async def close(self, notify=False):
        if self.tls is not None and notify:
            try:
                self.tls.unwrap()
            except ssl.SSLError:
                pass
            try:
                await self._flush_tls()
            except Closed:
                pass
        if not self.writer.is_closing():
            self.writer.close()

    def reset(self):
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    # -- the dialogue

    def override(self, verb):
        for key in ("%s@%s" % (verb, self.s.phase), verb):
            if key in self.sc.replies:
                return True, self.sc.replies[key]
        return False, None

    async def reply(self, verb, default, line=b""):
        has, spec = self.override(verb)
        return await self.act(spec if has else default, line)

    def ehlo_reply(self):
        kws = self.sc.ehlo_tls if self.tls else self.sc.ehlo
        lines = [self.sc.name] + kws
        return "\n".join("250%s%s" % ("-" if i < len(lines) - 1 else " ", ln)
                         for i, ln in enumerate(lines))

    async def run(self):
        if self.sc.tls == "implicit":
            if self.sc.handshake is not None:
                await self.act(self.sc.handshake)
                raise Closed("handshake replaced by the scenario")
            await self.handshake()
        await self.reply("GREETING", self.sc.greeting)
        ignore = list(self.sc.ignore_tls)
        while True:
            line, more = await self.readline()
            self.s.commands.append((self.s.phase, line, more))
            verb = line.split(b" ", 1)[0].upper().decode("latin-1")
            if self.tls is not None and verb in ignore:
                ignore.remove(verb)
                self.s.events.append("ignored %s" % verb)
                continue
            await self.command(verb, line)

    async def command(self, verb, line):
        if verb in ("EHLO", "HELO"):
            await self.reply(verb, self.ehlo_reply() if verb == "EHLO"
                             else "250 " + self.sc.name, line)
        elif verb == "STARTTLS":
            if self.tls is not None:
                await self.reply(verb, "503 5.5.1 TLS already active", line)
                return
            code = await self.reply(verb, self.sc.starttls, line)
            if code == "220" and self.sc.starttls_switch:
                if self.sc.handshake is not None:
                    await self.act(self.sc.handshake)
                    raise Closed("handshake replaced by the scenario")
                await self.handshake()
        elif verb == "AUTH":
            has, spec = self.override("AUTH")
            if has:
                await self.auth_override(spec, line)
            else:
                await self.auth(line)
        elif verb == "MAIL":
            await self.reply(verb, "250 2.1.0 Ok", line)
        elif verb == "RCPT":
            await self.reply(verb, "250 2.1.5 Ok", line)
        elif verb == "DATA":
            code = await self.reply(verb, "354 End data with <CR><LF>.<CR>"
                                    "<LF>", line)
            if code == "354":
                msg = bytearray()
                while True:
                    ln, _ = await self.readline()
                    if ln == b".":
                        break
                    msg += ln + CRLF
                self.s.messages.append(bytes(msg))
                self.s.commands.append((self.s.phase, b".", bool(self.buf)))
                await self.reply("DOT", "250 2.0.0 Ok: queued as FAULT")
        elif verb == "BDAT":
            await self.bdat(line)
        elif verb in ("RSET", "NOOP"):
            self.chunks = []
            await self.reply(verb, "250 2.0.0 Ok", line)
        elif verb == "QUIT":
            await self.reply(verb, "221 2.0.0 Bye", line)
            await self.close(notify=True)
            raise Closed("QUIT")
        else:
            await self.reply(verb, "502 5.5.2 Error: command not "
                             "recognized", line)

    async def bdat(self, line):
        """BDAT size [LAST] (RFC 3030): take size bytes as they come.  The
        reply to BDAT LAST is the reply to the message, so a "DOT"
        override applies to it (else "BDAT"), and the whole message is in
        messages, with a "." entry in commands, before it is sent."""
        parts = line.split()
        if (len(parts) not in (2, 3) or not parts[1].isdigit() or
                (len(parts) == 3 and parts[2].upper() != b"LAST")):
            await self.reply("BDAT", "501 5.5.4 Syntax: BDAT size [LAST]",
                             line)
            return
        size = int(parts[1])
        while len(self.buf) < size:
            await self.fill()
        self.chunks.append(bytes(self.buf[:size]))
        del self.buf[:size]
        if len(parts) == 2:
            await self.reply("BDAT", "250 2.0.0 %d octets received" % size,
                             line)
            return
        msg = b"".join(self.chunks)
        self.chunks = []
        self.s.messages.append(msg)
        self.s.commands.append((self.s.phase, b".", bool(self.buf)))
        has, spec = self.override("DOT")
        if has:
            await self.act(spec, line)
        else:
            await self.reply("BDAT", "250 2.0.0 Ok: %d octets, queued as "
                             "FAULT" % len(msg), line)

    async def auth_override(self, spec, line):
        code = await self.act(spec, line)
        while code == "334":
            resp, _ = await self.readline()
            self.s.commands.append((self.s.phase, b"<auth>", False))
            self.s.auth.append(("override", [resp]))
            self.s.auth_raw.append(resp)
            if resp == b"*":
                await self.write(b"501 5.7.0 Authentication aborted" + CRLF)
                return
            code = await self.reply("AUTH_RESPONSE",
                                    "235 2.7.0 Authentication successful",
                                    resp)

    async def challenge(self, data):
        """Send 334 with data (bytes, base64-encoded here); return the
        decoded answer, or None when the client cancelled."""
        self.s.challenges.append(base64.b64encode(data))
        await self.write(b"334 " + base64.b64encode(data) + CRLF)
        resp, _ = await self.readline()
        self.s.commands.append((self.s.phase, b"<auth>", False))
        self.s.auth_raw.append(resp)
        if resp == b"*":
            await self.write(b"501 5.7.0 Authentication aborted" + CRLF)
            return None
        return base64.b64decode(resp)

    async def auth(self, line):
        parts = line.decode("latin-1").split()
        mech = parts[1].upper() if len(parts) > 1 else ""
        ir = parts[2] if len(parts) > 2 else None
        got = []
        self.s.auth.append((mech, got))
        if ir is not None:
            self.s.auth_raw.append(ir.encode("latin-1"))
        ok_reply = b"235 2.7.0 Authentication successful" + CRLF
        bad_reply = b"535 5.7.8 Error: authentication failed" + CRLF
        if mech == "PLAIN":
            if ir is None:
                d = await self.challenge(b"")
            else:
                d = b"" if ir == "=" else base64.b64decode(ir)
            if d is None:
                return
            got.append(d)
            _, user, pw = (d.split(b"\0") + [b"", b""])[:3]
            good = self.check(user, pw)
        elif mech == "LOGIN":
            u = await self.challenge(b"Username:")
            if u is None:
                return
            got.append(u)
            p = await self.challenge(b"Password:")
            if p is None:
                return
            got.append(p)
            good = self.check(u, p)
        elif mech in ("SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS",
                      "SCRAM-SHA-256-PLUS"):
            if self.sc.password is None:
                await self.write(b"454 4.7.0 fault server: no password "
                                 b"set for SCRAM" + CRLF)
                return
            scram = ScramServer("sha1" if mech.startswith("SCRAM-SHA-1")
                                else "sha256", self.sc.password,
                                self.sc.scram_iter, cb=self.channel_binding)
            self.s.scram = scram
            if ir is None:
                first = await self.challenge(b"")
            else:
                first = base64.b64decode(ir)
            if first is None:
                return
            got.append(first)
            final = await self.challenge(
                scram.first(first.decode()).encode())
            if final is None:
                return
            got.append(final)
            sfinal = scram.final(final.decode())
            good = sfinal is not None and self.check(
                (scram.user or "").encode(), self.sc.password.encode())
            if good:
                last = await self.challenge(sfinal.encode())
                if last is None:
                    return
                got.append(last)
        elif mech == "EXTERNAL":
            # RFC 4422 appendix A: the TLS client certificate; the
            # authorization identity must be empty ("=").
            if ir is None:
                d = await self.challenge(b"")
            else:
                d = b"" if ir == "=" else base64.b64decode(ir)
            if d is None:
                return
            got.append(d)
            good = d == b"" and bool(self.s.peer_cert)
        else:
            await self.write(b"504 5.5.4 Unrecognized authentication "
                             b"type" + CRLF)
            return
        self.s.auth_ok = good
        await self.write(ok_reply if good else bad_reply)

    def channel_binding(self, kind):
        """This TLS session's channel binding of kind (RFC 5929 tls-unique,
        RFC 9266 tls-exporter), as the server computes it; with
        scenario.cb_tamper, one byte off (a man in the middle's own
        session)."""
        data = b""
        if self.tls is None:
            data = b""
        elif kind == "tls-unique":
            data = self.tls.get_channel_binding("tls-unique") or b""
        elif kind == "tls-exporter":
            data = _tls_exporter(self.tls)
        self.s.cb = (kind, data)
        if self.sc.cb_tamper and data:
            data = bytes([data[0] ^ 1]) + data[1:]
        return data

    def check(self, user, pw):
        if self.sc.user is not None and user != self.sc.user.encode():
            return False
        if self.sc.password is not None and pw != self.sc.password.encode():
            return False
        return True


# ------------------------------------------------------------ server

class FaultServer:
    """FaultServer(scenario).start(); .port; .stop().  Also a context
    manager.  lifetime caps the whole server (it stops by itself)."""

    def __init__(self, scenario=None, default_cert=None, host="127.0.0.1",
                 lifetime=90.0):
        self.scenario = scenario or Scenario()
        self.default_cert = default_cert
        self.host = host
        self.lifetime = lifetime
        self.sessions = []
        self.connections = 0
        self.shared_ctx = None
        self.port = None
        self._loop = None
        self._thread = None
        self._server = None
        self._active = 0
        self._tasks = set()
        self._ready = threading.Event()
        self._stopped = threading.Event()
        self._error = None

    def start(self):
        self._thread = threading.Thread(target=self._main, daemon=True,
                                        name="faultserver")
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")
        if self._error:
            raise self._error
        return self

    def _main(self):
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()
            self._stopped.set()

    async def _serve(self):
        self._stop_ev = asyncio.Event()
        try:
            self._server = await asyncio.start_server(
                self._handle, self.host, 0)
        except OSError as e:
            self._error = e
            self._ready.set()
            return
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await asyncio.wait_for(self._stop_ev.wait(), self.lifetime)
        except asyncio.TimeoutError:
            pass
        self._server.close()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    async def _handle(self, reader, writer):
        self.connections += 1
        sess = Session(self.connections)
        self.sessions.append(sess)
        self._active += 1
        conn = Conn(self, reader, writer, sess)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await asyncio.wait_for(conn.run(), self.scenario.session_timeout)
        except Closed as e:
            sess.events.append("end: %s" % e)
        except asyncio.TimeoutError:
            sess.events.append("end: session time cap")
        except asyncio.CancelledError:
            sess.events.append("end: server stopped")
        except Exception as e:  # a scenario bug: keep it for the test
            sess.error = e
            sess.events.append("end: error %r" % e)
        finally:
            try:
                if not writer.is_closing():
                    writer.close()
            except Exception:
                pass
            sess.closed = True
            self._active -= 1
            self._tasks.discard(task)

    def wait_idle(self, timeout=5.0, connections=1):
        """Wait until at least `connections` connections came and every
        one has ended; True if so."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if (self.connections >= connections
                    and all(s.closed for s in self.sessions)):
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        if self._loop is not None and not self._stopped.is_set():
            try:
                self._loop.call_soon_threadsafe(self._stop_ev.set)
            except RuntimeError:
                pass
            self._stopped.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
