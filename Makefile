# mailhop: a plain Makefile.  `make check` is the test command.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
# The system queue (mailhop(1) SYSTEM MODE).
SPOOLDIR ?= /var/spool/mailhop
# SETGID=mailhop: install mailhop set-group-id to that group (system
# mode), with SYSCONFDIR/mailhop.conf 0640 root:GROUP and SPOOLDIR 2770.
SETGID ?=
# The binary to build and install; a test copy with its own SYSCONFDIR
# and SPOOLDIR is built as B=DIR PROG=DIR/mailhop (test_sysmode.py).
PROG ?= mailhop
DATADIR ?= $(PREFIX)/share
# zsh looks in vendor-completions for packages, site-functions for /usr/local.
ZSHDIR ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/zsh/vendor-completions,$(DATADIR)/zsh/site-functions)
DESTDIR ?=

CC ?= cc
PKG_CONFIG ?= pkg-config
PKGS = gnutls libgsasl libidn2 libconfuse
PYTHON = /usr/bin/python3
VERSION = 0.9.0

CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror -Wmissing-prototypes
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -DSYSCONFDIR='"$(SYSCONFDIR)"' \
	-DSPOOLDIR='"$(SPOOLDIR)"' -DMAILHOP_VERSION='"$(VERSION)"' $(WARN)
PKG_CFLAGS = $$($(PKG_CONFIG) --cflags $(PKGS))
# sasl.c takes libgsasl's prototypes from its header and loads it with
# dlopen for SCRAM only (see sasl.c): mailhop is not linked with it.
PKG_LIBS = $$($(PKG_CONFIG) --libs $(filter-out libgsasl,$(PKGS)))
# keyring.c takes libsecret's prototypes from its header, but loads the
# library with dlopen: it is never linked (see keyring.c).
SECRET_CFLAGS = $$($(PKG_CONFIG) --cflags libsecret-1)

SRCS = src/addr.c src/alias.c src/conf.c src/conffile.c src/confparse.c \
	src/confscan.c src/confcheck.c src/conferr.c src/err.c src/io.c src/log.c \
	src/msg.c src/net.c src/options.c src/reply.c src/sasl.c src/secret.c \
	src/hdr.c src/qp.c src/smtp.c src/tls.c
SRCS += src/esmtp.c src/smtp_open.c src/smtp_txn.c
SRCS += src/queue.c src/queue_dir.c src/queue_text.c src/queue_keeper.c \
	src/queue_mailq.c
SRCS += src/server.c src/flush.c src/flush_open.c
SRCS += src/policy.c
SRCS += src/oauth.c src/keyring.c src/mech.c src/base64.c
SRCS += src/pin.c src/tlsprio.c
SRCS += src/serverinfo.c
SRCS += src/peek.c
SRCS += src/priv.c src/usage.c
SRCS += src/prepare.c src/send.c
MAIN = src/main.c
HDRS = $(wildcard src/*.h)
TEST_HDRS = $(wildcard tests/unit/*.h)
UNIT_TESTS = $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer

B = build
OBJS = $(SRCS:src/%.c=$(B)/%.o)
ASAN_OBJS = $(SRCS:src/%.c=$(B)/asan/%.o)

all: $(PROG)

$(PROG): $(OBJS) $(B)/main.o
	$(CC) $(LDFLAGS) -o $@ $(OBJS) $(B)/main.o $(PKG_LIBS)

$(B)/%.o: src/%.c $(HDRS)
	@mkdir -p $(B)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(PKG_CFLAGS) \
	    $(if $(filter src/keyring.c,$<),$(SECRET_CFLAGS)) -c -o $@ $<

$(B)/asan/%.o: src/%.c $(HDRS)
	@mkdir -p $(B)/asan
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) $(PKG_CFLAGS) \
	    $(if $(filter src/keyring.c,$<),$(SECRET_CFLAGS)) -c -o $@ $<

$(B)/mailhop-asan: $(ASAN_OBJS) $(B)/asan/main.o
	$(CC) $(SAN) -o $@ $^ $(PKG_LIBS)

$(B)/asan/libmailhop.a: $(ASAN_OBJS)
	rm -f $@
	ar rcs $@ $(ASAN_OBJS)

# Calls a unit test watches (ld --wrap: the test defines __wrap_NAME and
# calls __real_NAME): test_smtp each io deadline smtp sets, each buffer
# it writes and the TLS verdict it reads, test_io the verdict GnuTLS
# gives tls.c.
WRAP_smtp = -Wl,--wrap=io_set_deadline -Wl,--wrap=io_put \
	-Wl,--wrap=tls_verify_result
WRAP_io = -Wl,--wrap=gnutls_certificate_verify_peers3

$(B)/test_%: tests/unit/test_%.c $(B)/asan/libmailhop.a $(HDRS) $(TEST_HDRS)
	$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Isrc $(PKG_CFLAGS) \
	    -o $@ $< $(B)/asan/libmailhop.a $(WRAP_$*) $(PKG_LIBS) \
	    $$($(PKG_CONFIG) --libs libgsasl) -lcmocka

deps:
	@sh scripts/deps.sh

unit: $(UNIT_TESTS:%=$(B)/test_%)
	@set -e; for t in $(UNIT_TESTS); do \
	    (cd tests/unit && ASAN_OPTIONS=detect_leaks=1 ../../$(B)/test_$$t); \
	done

format-check:
	clang-format --dry-run --Werror src/*.c src/*.h tests/unit/*.c \
	    tests/unit/*.h bench/*.c tests/fuzz/*.c tests/fuzz/*.h

format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h \
	    tests/fuzz/*.c tests/fuzz/*.h

lint-man:
	mandoc -Tlint -Wwarning man/*.[0-9]

integration: mailhop $(B)/mailhop-asan
	MAILHOP=$(CURDIR)/mailhop MAILHOP_ASAN=$(CURDIR)/$(B)/mailhop-asan \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

check: deps
	$(MAKE) all
	$(MAKE) format-check lint-man unit
	$(MAKE) integration

# Not part of check: installs msmtp and the tools bench needs, then
# measures mailhop against msmtp (bench/bench.py; README, "make bench").
bench:
	@sh scripts/deps.sh bench
	$(MAKE) all $(B)/bench-delay
	$(PYTHON) bench/bench.py $(CURDIR)/mailhop $(CURDIR)/$(B)/bench-delay

$(B)/bench-delay: bench/delay.c
	@mkdir -p $(B)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ bench/delay.c \
	    $$($(PKG_CONFIG) --cflags --libs libnetfilter_queue)

# Not part of check: libFuzzer targets (security.md S42), built with
# clang, ASan and UBSan against their own objects in $(B)/fuzz; a UBSan
# report stops a run as a crash does.  fuzz-run runs each target for
# FUZZ_SECONDS on a copy of its seeds (tests/fuzz/seeds.py) after
# replaying tests/fuzz/regress (README, "make fuzz").
FUZZ_CC = clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_SECONDS = 60
FUZZ_TARGETS = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJS = $(SRCS:src/%.c=$(B)/fuzz/%.o)
# fuzz_session gives smtp.c a socketpair for its connection.
FUZZ_WRAP_session = -Wl,--wrap=net_connect

$(B)/fuzz/%.o: src/%.c $(HDRS)
	@mkdir -p $(B)/fuzz
	$(FUZZ_CC) $(BASE_CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link \
	    $(PKG_CFLAGS) $(if $(filter src/keyring.c,$<),$(SECRET_CFLAGS)) \
	    -c -o $@ $<

$(B)/fuzz/libmailhop.a: $(FUZZ_OBJS)
	rm -f $@
	ar rcs $@ $(FUZZ_OBJS)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h \
    $(B)/fuzz/libmailhop.a $(HDRS)
	$(FUZZ_CC) $(BASE_CFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -Isrc \
	    $(PKG_CFLAGS) -o $@ $< $(B)/fuzz/libmailhop.a $(FUZZ_WRAP_$*) \
	    $(PKG_LIBS) $$($(PKG_CONFIG) --libs libgsasl)

fuzz:
	@sh scripts/deps.sh fuzz
	$(MAKE) $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)

fuzz-run: fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
	    c=$(B)/fuzz/corpus/$$t; mkdir -p $$c; \
	    $(PYTHON) tests/fuzz/seeds.py $$t $$c; \
	    r=$$(ls tests/fuzz/regress/$$t-* 2>/dev/null || true); \
	    if [ -n "$$r" ]; then $(B)/fuzz/fuzz_$$t $$r; fi; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(B)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) \
	        -timeout=10 -print_final_stats=1 \
	        -artifact_prefix=$(B)/fuzz/$$t- $$c; \
	done

demo: deps
	$(MAKE) all
	$(PYTHON) tests/demo.py $(CURDIR)/mailhop

# demo's servers kept up for trying mailhop by hand: prints a config and
# the commands to paste, stops the servers on Enter (tests/try.py).
try: deps
	$(MAKE) all
	$(PYTHON) tests/try.py $(CURDIR)/mailhop

# Before anything is built or installed: a staged (DESTDIR) install with
# SETGID chowns to the group, so it must exist on this machine.
install: install-check $(PROG)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions \
	    $(DESTDIR)$(ZSHDIR) \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d
	install -m 0755 $(PROG) $(DESTDIR)$(BINDIR)/mailhop
	install -m 0644 man/mailhop.1 $(DESTDIR)$(MANDIR)/man1/mailhop.1
	install -m 0644 man/mailhop.conf.5 $(DESTDIR)$(MANDIR)/man5/mailhop.conf.5
	install -m 0644 completions/mailhop.bash \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions/mailhop
	install -m 0644 completions/_mailhop \
	    $(DESTDIR)$(ZSHDIR)/_mailhop
	install -m 0644 completions/mailhop.fish \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/mailhop.fish
	@if [ -n "$(SETGID)" ]; then $(MAKE) --no-print-directory \
	    install-setgid; fi

install-check:
	@if [ -n "$(SETGID)" ] && [ -n "$(DESTDIR)" ] && \
	    ! getent group $(SETGID) >/dev/null; then \
	    echo "make: group $(SETGID) does not exist; create it" \
	        "(groupadd --system $(SETGID)) before installing" \
	        "with SETGID and DESTDIR: the staged files are chowned" \
	        "to it; nothing was installed" >&2; exit 1; fi

# System mode: the group (created when installing to the live system),
# the binary set-group-id to it, the system file readable by it only, and
# the system queue and its msg/, failed/ and tmp/ writable by it only, all
# root's (a run makes a missing one 2770 too, but owned by its user).  An
# existing mailhop.conf is kept.
install-setgid:
	@if ! getent group $(SETGID) >/dev/null; then \
	    if [ -n "$(DESTDIR)" ]; then \
	        echo "make: group $(SETGID) does not exist; create it" \
	            "(groupadd --system $(SETGID)) before installing" \
	            "with SETGID and DESTDIR" >&2; exit 1; fi; \
	    groupadd --system $(SETGID) || getent group $(SETGID) \
	        >/dev/null || exit 1; fi
	chown root:$(SETGID) $(DESTDIR)$(BINDIR)/mailhop
	chmod 2755 $(DESTDIR)$(BINDIR)/mailhop
	install -d $(DESTDIR)$(SYSCONFDIR)
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/mailhop.conf ]; then \
	    echo install -m 0640 -o root -g $(SETGID) sample.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mailhop.conf; \
	    install -m 0640 -o root -g $(SETGID) sample.conf \
	        $(DESTDIR)$(SYSCONFDIR)/mailhop.conf || exit 1; fi
	install -d -m 2770 -o root -g $(SETGID) $(DESTDIR)$(SPOOLDIR) \
	    $(DESTDIR)$(SPOOLDIR)/msg $(DESTDIR)$(SPOOLDIR)/failed \
	    $(DESTDIR)$(SPOOLDIR)/tmp

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/mailhop $(DESTDIR)$(MANDIR)/man1/mailhop.1 \
	    $(DESTDIR)$(MANDIR)/man5/mailhop.conf.5 \
	    $(DESTDIR)$(DATADIR)/bash-completion/completions/mailhop \
	    $(DESTDIR)$(ZSHDIR)/_mailhop \
	    $(DESTDIR)$(DATADIR)/fish/vendor_completions.d/mailhop.fish

clean:
	rm -rf $(B) mailhop

.PHONY: all deps unit format-check format lint-man integration check demo try \
	bench fuzz fuzz-run install install-check install-setgid uninstall clean
