# SPDX-License-Identifier: ISC
"""Fixtures for tests that use the fault server (tests/faultserver.py).
Import them into a test module: `from conftest_fault import *`.

fault_pki:  certificates made once per session with certtool templates:
            leaves signed by the harness's test CA for odd names, IP SANs
            and dates, one signed by the harness's unrelated CA, one
            self-signed.  fault_pki.cert(name) -> (certfile, keyfile).
            Names with a NUL byte, which certtool cannot write, come
            from python3-cryptography: "nul-cn" and "nul-san" (NUL_NAME).
fault:      fault(scenario) starts a FaultServer (on 127.0.0.1, or
            host="::1") and stops it when the test ends.
fault_conf: fault_conf(srv, **kw) writes a mailhop config for a fault
            server (the harness's write_config with host, port and tls
            from the server; short timeout).
mailhop_hosts: a mailhop runner that sees an /etc/hosts of its own
            (bind-mounted in a private mount namespace) where
            mail.example.org and a.b.example.org are 127.0.0.1, for the
            host name cases (S13).
mailhop_trust: a mailhop runner whose system trust store is the test CA
            alone: SYSTEM_TRUST (the file GnuTLS's system trust reads on
            Debian, and p11-kit's trust module too) bind-mounted over in
            a private mount namespace, for the default-config cases (S15).
"""

import os
import subprocess

import pytest

import harness
from conftest import Mailhop, MAILHOP
from faultserver import FaultServer, Scenario

__all__ = ["fault_pki", "fault", "fault_conf", "mailhop_hosts",
           "mailhop_trust_hosts",
           "mailhop_trust", "FAULT_HOSTS", "SYSTEM_TRUST", "NUL_NAME"]

# Names the mailhop_hosts runner resolves to 127.0.0.1.
FAULT_HOSTS = ("mail.example.org", "a.b.example.org")

# gnutls_certificate_set_x509_system_trust on Debian 12: GnuTLS is built
# with this file as its default trust store (the string is in
# libgnutls.so.30), and p11-kit's trust module reads the same file.
SYSTEM_TRUST = "/etc/ssl/certs/ca-certificates.crt"

# Signers made before the leaves (own key, ca-key.pem style names):
# name: (signer, template lines).  "inter-notca" may sign certificates but
# is no CA (no CA:TRUE).
INTERMEDIATES = {
    "inter-ca": ("ca", ['cn = "mailhop fault intermediate CA"', "ca",
                        "cert_signing_key"]),
    "inter-notca": ("ca", ['cn = "mailhop fault not a CA"',
                           "cert_signing_key", "signing_key"]),
}

# name: (signer, template lines).  signer: "ca" (the harness's test CA),
# "other-ca" (its unrelated CA), "server" (the harness's server
# certificate, a leaf), one of INTERMEDIATES, or "self".
LEAVES = {
    "self-signed": ("self", ['cn = "localhost"', 'dns_name = "localhost"',
                             'ip_address = "127.0.0.1"']),
    "unknown-ca": ("other-ca", ['cn = "localhost"',
                                'dns_name = "localhost"',
                                'ip_address = "127.0.0.1"']),
    "expired": ("ca", ['cn = "localhost"', 'dns_name = "localhost"',
                       'activation_date = "2020-01-01 00:00:00 UTC"',
                       'expiration_date = "2021-01-01 00:00:00 UTC"']),
    "not-yet-valid": ("ca", ['cn = "localhost"', 'dns_name = "localhost"',
                             'activation_date = "2098-01-01 00:00:00 UTC"',
                             'expiration_date = "2099-01-01 00:00:00 UTC"']),
    # S13, for host mail.example.org (a.b.example.org for the last)
    "other-name": ("ca", ['cn = "other.example.org"',
                          'dns_name = "other.example.org"']),
    "m-star-l": ("ca", ['cn = "m*l.example.org"',
                        'dns_name = "m*l.example.org"']),
    "star-org": ("ca", ['cn = "*.org"', 'dns_name = "*.org"']),
    "san-x-cn-mail": ("ca", ['cn = "mail.example.org"',
                             'dns_name = "x.example.org"']),
    "suffix-evil": ("ca", ['cn = "mail.example.org.evil.test"',
                           'dns_name = "mail.example.org.evil.test"']),
    "ail": ("ca", ['cn = "ail.example.org"', 'dns_name = "ail.example.org"']),
    "star-example": ("ca", ['cn = "*.example.org"',
                            'dns_name = "*.example.org"']),
    # a wildcard that matches, with another fault beside it
    "star-example-expired": ("ca", [
        'cn = "*.example.org"', 'dns_name = "*.example.org"',
        'activation_date = "2020-01-01 00:00:00 UTC"',
        'expiration_date = "2021-01-01 00:00:00 UTC"']),
    "star-example-unknown-ca": ("other-ca", ['cn = "*.example.org"',
                                             'dns_name = "*.example.org"']),
    "upper": ("ca", ['cn = "MAIL.EXAMPLE.ORG"',
                     'dns_name = "MAIL.EXAMPLE.ORG"']),
    "star-ail": ("ca", ['cn = "*ail.example.org"',
                        'dns_name = "*ail.example.org"']),
    "cn-only": ("ca", ['cn = "mail.example.org"']),
    "cn-star": ("ca", ['cn = "*.example.org"']),
    "san-star-ail-cn-star": ("ca", ['cn = "*.example.org"',
                                    'dns_name = "*ail.example.org"']),
    "san-other-and-star": ("ca", ['cn = "other.example.net"',
                                  'dns_name = "other.example.net"',
                                  'dns_name = "*.example.org"']),
    # client certificates (tls_cert_file)
    "client-alice": ("ca", ['cn = "alice client"', 'email = "alice@example.org"',
                            "tls_www_client"]),
    "client-other-ca": ("other-ca", ['cn = "mallory client"',
                                     "tls_www_client"]),
    # S14
    "ip-only": ("ca", ['cn = "fault ip test"', 'ip_address = "127.0.0.1"',
                       'ip_address = "::1"']),
    "dns-localhost-only": ("ca", ['cn = "localhost"',
                                  'dns_name = "localhost"']),
    # S12 chains (CHAINS adds the certificates the server sends along)
    "via-inter": ("inter-ca", ['cn = "localhost"', 'dns_name = "localhost"']),
    "via-notca": ("inter-notca", ['cn = "localhost"',
                                  'dns_name = "localhost"']),
    "via-leaf": ("server", ['cn = "localhost"', 'dns_name = "localhost"']),
}

# A name that a reader stopping at the NUL takes for "localhost"
# (CVE-2009-3942, CVE-2010-1192, CVE-2009-4565): the CN of "nul-cn" (no
# SAN, so the CN counts) and the only DNS SAN of "nul-san".
NUL_NAME = "localhost\0.evil.test"

# Certificate files that are a leaf plus the chain the server sends.
CHAINS = {
    "via-inter-chain": ("via-inter", "inter-ca"),
    "via-notca-chain": ("via-notca", "inter-notca"),
    "via-leaf-chain": ("via-leaf", "server"),
}


class FaultPKI:
    def __init__(self, servers):
        self.servers = servers
        self.dir = servers.path("fault-pki")
        self.key = os.path.join(self.dir, "leaf-key.pem")
        self.ca_file = servers.ca_file
        self.default = (os.path.join(servers.pki, "server.pem"),
                        os.path.join(servers.pki, "server-key.pem"))

    def _certtool(self, *args):
        r = subprocess.run(["certtool"] + list(args), capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("certtool %s: %s%s" % (
                " ".join(args), r.stdout, r.stderr))

    def _signer(self, name):
        """(certfile, keyfile) of a signer."""
        if name in INTERMEDIATES:
            return (os.path.join(self.dir, name + ".pem"),
                    os.path.join(self.dir, "inter-key.pem"))
        pki = self.servers.pki
        return (os.path.join(pki, name + ".pem"),
                os.path.join(pki, name + "-key.pem"))

    def _make(self, serial, name, signer, lines, key, leaf=True):
        tmpl = os.path.join(self.dir, name + ".tmpl")
        body = list(lines) + ["serial = %d" % serial,
                              'organization = "mailhop fault tests"']
        if leaf:
            body += ["tls_www_server", "signing_key"]
        if not any(x.startswith("expiration_date") for x in lines):
            body.append("expiration_days = 30")
        with open(tmpl, "w") as f:
            f.write("\n".join(body) + "\n")
        out = os.path.join(self.dir, name + ".pem")
        if signer == "self":
            self._certtool("--generate-self-signed", "--load-privkey", key,
                           "--template", tmpl, "--outfile", out)
        else:
            cert, ckey = self._signer(signer)
            self._certtool("--generate-certificate", "--load-privkey", key,
                           "--load-ca-certificate", cert,
                           "--load-ca-privkey", ckey,
                           "--template", tmpl, "--outfile", out)

    def _make_nul(self, serial):
        """nul-cn and nul-san, signed by the test CA with the leaf key."""
        import datetime
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        def load(name, kind):
            with open(os.path.join(self.servers.pki, name), "rb") as f:
                return kind(f.read())
        ca = load("ca.pem", x509.load_pem_x509_certificate)
        ca_key = load("ca-key.pem", lambda b: serialization
                      .load_pem_private_key(b, None))
        with open(self.key, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        now = datetime.datetime.now(datetime.timezone.utc)
        for n, (cn, san) in enumerate([(NUL_NAME, None),
                                       ("nul san test", NUL_NAME)]):
            b = (x509.CertificateBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(
                     NameOID.COMMON_NAME, cn)]))
                 .issuer_name(ca.subject).public_key(key.public_key())
                 .serial_number(serial + n)
                 .not_valid_before(now - datetime.timedelta(days=1))
                 .not_valid_after(now + datetime.timedelta(days=30))
                 .add_extension(x509.ExtendedKeyUsage(
                     [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False))
            if san is not None:
                b = b.add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName(san)]), False)
            crt = b.sign(ca_key, hashes.SHA256())
            name = "nul-san" if san is not None else "nul-cn"
            with open(os.path.join(self.dir, name + ".pem"), "wb") as f:
                f.write(crt.public_bytes(serialization.Encoding.PEM))

    def make(self):
        os.makedirs(self.dir)
        inter_key = os.path.join(self.dir, "inter-key.pem")
        for k in (self.key, inter_key):
            self._certtool("--generate-privkey", "--key-type=ecdsa",
                           "--curve=secp256r1", "--outfile", k)
        serial = 100
        for name, (signer, lines) in sorted(INTERMEDIATES.items()):
            serial += 1
            self._make(serial, name, signer, lines, inter_key, leaf=False)
        for name, (signer, lines) in sorted(LEAVES.items()):
            serial += 1
            self._make(serial, name, signer, lines, self.key)
        for name, parts in CHAINS.items():
            with open(os.path.join(self.dir, name + ".pem"), "w") as out:
                for part in parts:
                    with open(self._signer(part)[0] if part not in LEAVES
                              else os.path.join(self.dir,
                                                part + ".pem")) as f:
                        out.write(f.read())
        self._make_nul(serial + 1)
        for k in (self.key, inter_key):
            os.chmod(k, 0o600)
        return self

    def cert(self, name):
        if name == "default":
            return self.default
        return os.path.join(self.dir, name + ".pem"), self.key


# One per harness: test modules import the fixture separately, and each
# import is a fixture of its own to pytest.
_PKI = {}


@pytest.fixture(scope="session")
def fault_pki(servers):
    if servers.base not in _PKI:
        _PKI[servers.base] = FaultPKI(servers).make()
    return _PKI[servers.base]


@pytest.fixture
def fault(servers):
    started = []
    default_cert = (os.path.join(servers.pki, "server.pem"),
                    os.path.join(servers.pki, "server-key.pem"))

    def start(scenario=None, host="127.0.0.1", lifetime=60.0):
        srv = FaultServer(scenario or Scenario(), default_cert=default_cert,
                          host=host, lifetime=lifetime)
        started.append(srv)
        return srv.start()
    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def fault_conf(servers):
    def write(srv, **kw):
        kw.setdefault("host", "localhost")
        kw.setdefault("port", srv.port)
        kw.setdefault("tls", {"none": "off"}.get(srv.scenario.tls,
                                                  srv.scenario.tls))
        kw.setdefault("timeout", 5)
        # queue = off unless the test asks for the queue: 75 stays 75.
        kw.setdefault("queue", False)
        if kw["tls"] == "off":
            kw.setdefault("auth", "off")
            kw.setdefault("user", None)
        return servers.write_config(**kw)
    return write


def _mount_wrapper(servers, name, *mounts):
    """A Mailhop whose binary is a wrapper: a private mount namespace
    with each (source, target) of mounts bind-mounted, then exec mailhop
    (same pid)."""
    d = servers.path(name)
    os.makedirs(d, exist_ok=True)
    wrapper = os.path.join(d, "mailhop")
    binds = " && ".join("mount --bind %s %s" % (harness.shlex.quote(src),
                                                 tgt)
                        for src, tgt in mounts)
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\n"
                "exec unshare --mount sh -c %s %s \"$@\"\n"
                % (harness.shlex.quote(binds + ' && exec "$0" "$@"'),
                   harness.shlex.quote(MAILHOP)))
    os.chmod(wrapper, 0o755)
    return Mailhop(servers, wrapper)


def _hosts_file(servers):
    d = servers.path("fault-hosts")
    os.makedirs(d, exist_ok=True)
    hosts = os.path.join(d, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost %s\n::1 localhost ip6-localhost\n"
                % " ".join(FAULT_HOSTS))
    return hosts


def _trust_file(servers):
    d = servers.path("fault-trust")
    os.makedirs(d, exist_ok=True)
    bundle = os.path.join(d, "ca-certificates.crt")
    with open(servers.ca_file) as src, open(bundle, "w") as f:
        f.write(src.read())
    os.chmod(bundle, 0o644)
    return bundle


@pytest.fixture(scope="session")
def mailhop_hosts(servers):
    """mailhop with FAULT_HOSTS in its /etc/hosts."""
    return _mount_wrapper(servers, "fault-hosts",
                          (_hosts_file(servers), "/etc/hosts"))


@pytest.fixture(scope="session")
def mailhop_trust(servers):
    """mailhop whose system trust store holds the test CA alone."""
    return _mount_wrapper(servers, "fault-trust",
                          (_trust_file(servers), SYSTEM_TRUST))


@pytest.fixture(scope="session")
def mailhop_trust_hosts(servers):
    """mailhop_trust with FAULT_HOSTS in its /etc/hosts too."""
    return _mount_wrapper(servers, "fault-trust-hosts",
                          (_hosts_file(servers), "/etc/hosts"),
                          (_trust_file(servers), SYSTEM_TRUST))
