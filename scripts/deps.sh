#!/bin/sh
# Install the Debian packages that the build and the tests need, when they
# are missing.  Run as root on Debian 12; elsewhere it only reports.
# `deps.sh bench` also installs what make bench needs (and check does not):
# msmtp to compare with, iptables and libnetfilter-queue for the delay
# helper, valgrind for instruction counts, git for the version line.
set -eu
pkgs="build-essential pkg-config libgnutls28-dev libgsasl-dev libidn2-dev
libconfuse-dev libcmocka-dev python3-pytest postfix dovecot-core rsyslog
gnutls-bin mandoc clang-format libpython3.11-testsuite iproute2 time strace
libsecret-1-dev gnome-keyring libsecret-tools dbus util-linux passwd
python3-cryptography"
if [ "${1:-}" = bench ]; then
	pkgs="$pkgs msmtp iptables libnetfilter-queue-dev valgrind git"
fi
if [ "${1:-}" = fuzz ]; then
	pkgs="$pkgs clang libclang-rt-dev"
fi
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: run 'make deps' as root to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
apt-get update -q
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $missing
