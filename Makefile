# pam_keepsession — see README.md.
PACKAGE    := pam_keepsession
VERSION    := 0.1.0

PREFIX     ?= /usr
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/$(PACKAGE)
PKG_CONFIG ?= pkg-config
# Linux-PAM before 1.5 ships no pam.pc (Debian 11): plain -lpam then.
HAVE_PAM_PC := $(shell $(PKG_CONFIG) --exists pam && echo yes)
PAM_CFLAGS := $(if $(HAVE_PAM_PC),$(shell $(PKG_CONFIG) --cflags pam))
PAM_LIBS   := $(if $(HAVE_PAM_PC),$(shell $(PKG_CONFIG) --libs pam),-lpam)
# Where the platform's libpam looks for modules: pam.pc's securedir where it
# has one (Linux-PAM >= 1.6), else <libdir of libpam>/security, else the
# directory that holds pam_unix.so.
PAM_UNIX   := $(firstword $(wildcard /usr/lib/*/security/pam_unix.so /lib/*/security/pam_unix.so \
              /usr/lib64/security/pam_unix.so /lib64/security/pam_unix.so \
              /usr/lib/security/pam_unix.so /lib/security/pam_unix.so))
PAMDIR     ?= $(or $(shell $(PKG_CONFIG) --variable=securedir pam 2>/dev/null),$\
              $(if $(HAVE_PAM_PC),$(shell $(PKG_CONFIG) --variable=libdir pam)/security),$\
              $(patsubst %/,%,$(dir $(PAM_UNIX))))

# The stop guard (issue 9): its program under libexec, its template unit
# and the drop-in that pulls it in for every session scope in systemd's
# system unit directory.
LIBEXECDIR ?= $(PREFIX)/libexec
GUARD_PROGRAM := $(LIBEXECDIR)/pam_keepsession/keepsession-guard
SYSTEMDUNITDIR ?= $(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null),$\
              /lib/systemd/system)

CC         ?= cc
BUILDDIR   ?= build
HARDENING  := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC
WARNINGS   := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
              -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS     ?= -g
ALL_CFLAGS := -std=gnu11 $(HARDENING) $(WARNINGS) -Iinclude \
              $(PAM_CFLAGS) $(shell $(PKG_CONFIG) --cflags libsystemd) $(CFLAGS) $(EXTRA_CFLAGS)
LIBS       := $(PAM_LIBS) $(shell $(PKG_CONFIG) --libs libsystemd)
MODULE_LDFLAGS := -shared -Wl,-z,relro,-z,now -Wl,-z,defs -Wl,--as-needed \
              -Wl,--version-script=pam_keepsession.map

UNIT_SRCS  := $(sort $(wildcard src/*.c))
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILDDIR)/%.o)
MODULE_OBJ := $(BUILDDIR)/pam_keepsession.o
MODULE     := $(BUILDDIR)/pam_keepsession.so
GUARD_OBJ  := $(BUILDDIR)/guard/keepsession-guard.o
GUARD      := $(BUILDDIR)/keepsession-guard
GUARD_UNIT := $(BUILDDIR)/keepsession-guard@.service
GUARD_LIBS := $(shell $(PKG_CONFIG) --libs libsystemd)
# Units only the keepsession command uses, and the systemd queries the
# command and the stop guard share: both kept out of the module.
CMD_UNIT_SRCS := src/explain.c src/json.c src/kept.c src/pamstack.c
CMD_UNIT_OBJS := $(CMD_UNIT_SRCS:%.c=$(BUILDDIR)/%.o)
QUERY_UNIT_SRCS := src/busget.c src/unitlist.c
QUERY_UNIT_OBJS := $(QUERY_UNIT_SRCS:%.c=$(BUILDDIR)/%.o)
MODULE_UNIT_OBJS := $(filter-out $(CMD_UNIT_OBJS) $(QUERY_UNIT_OBJS),$(UNIT_OBJS))
COMMAND_SRCS := $(sort $(wildcard cmd/*.c))
COMMAND_OBJS := $(COMMAND_SRCS:%.c=$(BUILDDIR)/%.o)
COMMAND    := $(BUILDDIR)/keepsession
BINDIR     ?= $(PREFIX)/bin
# bash-completion's own directory where its .pc says, else the usual one.
BASHCOMPDIR ?= $(or $(shell $(PKG_CONFIG) --variable=completionsdir bash-completion 2>/dev/null),$\
               $(DATADIR)/bash-completion/completions)

TEST_SRCS     := $(sort $(wildcard tests/test_*.c))
TEST_BINS     := $(TEST_SRCS:tests/%.c=$(BUILDDIR)/tests/%)
TEST_HELPERS  := $(filter-out $(TEST_SRCS),$(sort $(wildcard tests/*.c)))
TEST_HELPER_OBJS := $(TEST_HELPERS:%.c=$(BUILDDIR)/%.o)
# Lazy: only the test binaries need cmocka, not a plain build or install.
TEST_LIBS      = $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

.PHONY: all check check-asan check-valgrind e2e install uninstall clean setup test demo
# The fakes are built once and kept: make would delete them as intermediates
# after each run, and a parallel run could then link without them.
.SECONDARY: $(TEST_HELPER_OBJS)
all: $(MODULE) $(GUARD) $(GUARD_UNIT) $(COMMAND)

# README's two set-up commands, on a fresh Debian 12 machine as root.
# setup: build dependencies, build, install, and show the module working.
setup:
	tools/install-deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) demo

# test: every test there is; what CI runs.
FUZZ_SECONDS ?= 15
test:
	$(MAKE) check
	$(MAKE) check-asan
	$(MAKE) check-valgrind
	$(MAKE) check-man
	$(MAKE) lint
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)
	$(MAKE) e2e

# A short end-to-end run: without the module a detached tmux dies at ssh
# logout; with it, an opted-in user's tmux survives.
demo:
	KS_E2E_SCENARIOS=optin tests/e2e/run

# The module is built with hidden visibility; the version script exports
# only the pam_sm_* entry points.
$(BUILDDIR)/%.o: %.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c -o $@ $<

# The module looks for the guard where install puts it.
$(MODULE_OBJ): ALL_CFLAGS += -DKS_GUARD_PROGRAM='"$(GUARD_PROGRAM)"'

$(MODULE): $(MODULE_OBJ) $(MODULE_UNIT_OBJS) pam_keepsession.map
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(MODULE_LDFLAGS) -o $@ $(MODULE_OBJ) $(MODULE_UNIT_OBJS) $(LIBS)

# The command's --version.
$(BUILDDIR)/cmd/main.o: ALL_CFLAGS += -DKS_VERSION='"$(VERSION)"'
$(COMMAND_OBJS): $(wildcard cmd/*.h)

$(COMMAND): $(COMMAND_OBJS) $(UNIT_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -pie -Wl,-z,relro,-z,now -Wl,--as-needed -o $@ \
		$(COMMAND_OBJS) $(UNIT_OBJS) $(LIBS)

$(GUARD): $(GUARD_OBJ) $(MODULE_UNIT_OBJS) $(QUERY_UNIT_OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -pie -Wl,-z,relro,-z,now -Wl,--as-needed -o $@ \
		$(GUARD_OBJ) $(MODULE_UNIT_OBJS) $(QUERY_UNIT_OBJS) $(GUARD_LIBS)

$(GUARD_UNIT): units/keepsession-guard@.service.in Makefile
	@mkdir -p $(dir $@)
	sed 's|@GUARD_PROGRAM@|$(GUARD_PROGRAM)|g' $< >$@

# test_nomem makes allocations fail: the units' calls go through its
# wrappers (link-time --wrap, no change to the units).
TEST_LDFLAGS_test_nomem := -Wl,--wrap=malloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
# test_scanclock moves the clock between two reads of one scan.
TEST_LDFLAGS_test_scanclock := -Wl,--wrap=ks_now_usec
# test_mayhold counts what the cheap check reads of cgroup.procs and /proc
# (the _chk names: what _FORTIFY_SOURCE makes of the calls at some -O).
TEST_LDFLAGS_test_mayhold := -Wl,--wrap=read,--wrap=__read_chk,--wrap=readlinkat,$\
                             --wrap=__readlinkat_chk
$(BUILDDIR)/tests/%: tests/%.c $(UNIT_OBJS) $(TEST_HELPER_OBJS) $(MODULE) $(COMMAND)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) $(TEST_LDFLAGS_$*) -o $@ $< $(UNIT_OBJS) $(TEST_HELPER_OBJS) $(TEST_LIBS)

# Each test binary prints cmocka's summary; the wrapper adds one closing
# "N passed, N failed" line over all of them.
check: $(TEST_BINS) $(GUARD)
	@tests/check-exports $(MODULE)
	@MODULE=$(abspath $(MODULE)) tests/run-unit-tests $(TEST_BINS)

check-asan:
	$(MAKE) BUILDDIR=build/asan EXTRA_CFLAGS="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" check

check-valgrind: $(TEST_BINS)
	@MODULE=$(abspath $(MODULE)) VALGRIND=1 tests/run-unit-tests $(TEST_BINS)

e2e:
	tests/e2e/run

# A minimal PAM application (sshd's session phase) for the end-to-end
# state check and the benchmark; not installed by make install.
DRIVER := $(BUILDDIR)/ks-pam-driver
.PHONY: driver
driver: $(DRIVER)
$(DRIVER): tests/pamdriver/ks-pam-driver.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(PAM_LIBS)

# The config goes to $(SYSCONFDIR)/security only when there is none: as
# shipped every line is a comment, so a fresh install changes nothing, and
# an admin's file is never overwritten. The pam-auth-update profile
# (pam-configs/keepsession) is left to the Debian package, which registers it.
CONF := $(DESTDIR)$(SYSCONFDIR)/security/keepsession.conf
GUARD_DROPIN := session-.scope.d/keepsession-guard.conf
# systemd learns of new or removed units only on the live root where it runs.
RELOAD_SYSTEMD := if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	systemctl daemon-reload || true; fi
install: $(MODULE) $(GUARD) $(GUARD_UNIT) $(COMMAND)
	install -d $(DESTDIR)$(PAMDIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_keepsession.so
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(COMMAND) $(DESTDIR)$(BINDIR)/keepsession
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 completion/keepsession.bash $(DESTDIR)$(BASHCOMPDIR)/keepsession
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)
	install -m 0644 man/keepsession.1 $(DESTDIR)$(MANDIR)/man1/keepsession.1
	install -m 0644 man/pam_keepsession.8 $(DESTDIR)$(MANDIR)/man8/pam_keepsession.8
	install -m 0644 man/keepsession.conf.5 $(DESTDIR)$(MANDIR)/man5/keepsession.conf.5
	install -m 0644 keepsession.conf $(DESTDIR)$(DOCDIR)/keepsession.conf.example
	install -m 0644 pam.d-example $(DESTDIR)$(DOCDIR)/pam.d-example
	install -d $(DESTDIR)$(SYSCONFDIR)/security
	test -e $(CONF) || install -m 0644 keepsession.conf $(CONF)
	install -d $(DESTDIR)$(dir $(GUARD_PROGRAM))
	install -m 0755 $(GUARD) $(DESTDIR)$(GUARD_PROGRAM)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)/session-.scope.d
	install -m 0644 $(GUARD_UNIT) $(DESTDIR)$(SYSTEMDUNITDIR)/keepsession-guard@.service
	install -m 0644 units/$(GUARD_DROPIN) $(DESTDIR)$(SYSTEMDUNITDIR)/$(GUARD_DROPIN)
	@$(RELOAD_SYSTEMD)

# Removes what install added. The config only if it is still the shipped
# one: an edited config is the admin's, and stays.
uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_keepsession.so $(DESTDIR)$(BINDIR)/keepsession
	rm -f $(DESTDIR)$(BASHCOMPDIR)/keepsession $(DESTDIR)$(MANDIR)/man1/keepsession.1
	rm -f $(DESTDIR)$(MANDIR)/man8/pam_keepsession.8 $(DESTDIR)$(MANDIR)/man5/keepsession.conf.5
	rm -f $(DESTDIR)$(DOCDIR)/keepsession.conf.example $(DESTDIR)$(DOCDIR)/pam.d-example
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$(GUARD_DROPIN) \
		$(DESTDIR)$(SYSTEMDUNITDIR)/keepsession-guard@.service
	rmdir $(DESTDIR)$(SYSTEMDUNITDIR)/session-.scope.d 2>/dev/null || true
	rm -f $(DESTDIR)$(GUARD_PROGRAM)
	rmdir $(DESTDIR)$(dir $(GUARD_PROGRAM)) 2>/dev/null || true
	@$(RELOAD_SYSTEMD)
	if cmp -s keepsession.conf $(CONF); then rm -f $(CONF); \
	elif test -e $(CONF); then echo "$(CONF) was edited: left in place"; fi

# The man pages must format without a single warning, from groff or man-db
# (packages groff-base, man-db).
MANPAGES := man/pam_keepsession.8 man/keepsession.conf.5 man/keepsession.1
.PHONY: check-man
check-man:
	@for m in $(MANPAGES); do \
		out=$$(groff -man -ww -z $$m 2>&1; \
		       MANWIDTH=80 man --warnings -E UTF-8 -l $$m 2>&1 >/dev/null); \
		if [ -n "$$out" ]; then printf '%s:\n%s\n' $$m "$$out"; exit 1; fi; \
	done; echo "man pages: no warnings"

# Release tarball of the committed tree (HEAD), for rpmbuild and the like.
DIST := $(BUILDDIR)/$(PACKAGE)-$(VERSION).tar.gz
.PHONY: dist rpm
dist:
	@mkdir -p $(BUILDDIR)
	git archive --format=tar.gz --prefix=$(PACKAGE)-$(VERSION)/ -o $(DIST) HEAD

# Binary RPM from that tarball, under $(BUILDDIR)/rpm. RPMBUILD_FLAGS=--nodeps
# builds on a host whose rpm database does not know the build dependencies.
rpm: dist
	rpmbuild -bb $(RPMBUILD_FLAGS) --define '_topdir $(abspath $(BUILDDIR))/rpm' \
		--define '_sourcedir $(abspath $(BUILDDIR))' pam_keepsession.spec

clean:
	rm -rf $(BUILDDIR)

# ---------------------------------------------------------------------------
# Hardening: fuzzing (fuzz/) and static analysis (.clang-tidy, .clang-format).
# ---------------------------------------------------------------------------

# fuzz: builds each libFuzzer target into $(BUILDDIR)/fuzz and runs it for
# FUZZ_SECONDS over a copy of its seed corpus (fuzz/corpus/<target>/ is
# never written). Any crash, sanitizer report, leak, timeout or failed
# assertion fails the target; the input is saved as
# $(BUILDDIR)/fuzz/artifacts/<target>-crash-*, to replay with
# `$(BUILDDIR)/fuzz/<target> <file>`. `make test` passes its own
# FUZZ_SECONDS (15); a plain `make fuzz` runs each target for 60 s.
FUZZ_TIME    := $(if $(filter file,$(origin FUZZ_SECONDS)),60,$(FUZZ_SECONDS))
FUZZ_CC      ?= clang
FUZZ_DIR     := $(BUILDDIR)/fuzz
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                $(WARNINGS) -Iinclude
FUZZ_COMMON  := src/log.c src/strlist.c src/clock.c src/fileio.c src/number.c src/failpolicy.c $(wildcard include/*.h)
# target:max_len, the largest input each unit takes (256 KiB config,
# 64 KiB ~/.keepsession, 64 KiB /proc/PID/cgroup, 256 KiB pam.d file).
FUZZ_RUNS    := fuzz_config:270000 fuzz_optin:70000 fuzz_unitname:4096 fuzz_proc:70000 \
                fuzz_pamstack:270000
FUZZ_BINS    := $(foreach r,$(FUZZ_RUNS),$(FUZZ_DIR)/$(firstword $(subst :, ,$(r))))
FUZZ_LINK     = mkdir -p $(dir $@) && $(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

$(FUZZ_DIR)/fuzz_config: fuzz/fuzz_config.c src/config.c src/timespan.c src/optin.c \
		src/unitname.c src/configkey.c src/program.c $(FUZZ_COMMON)
	$(FUZZ_LINK)
$(FUZZ_DIR)/fuzz_optin: fuzz/fuzz_optin.c src/optin.c src/program.c $(FUZZ_COMMON)
	$(FUZZ_LINK)
$(FUZZ_DIR)/fuzz_unitname: fuzz/fuzz_unitname.c src/unitname.c $(FUZZ_COMMON)
	$(FUZZ_LINK)
# The scan's units, proctree and below.
SCAN_SRCS    := src/proctree.c src/proctable.c src/procfs.c src/cgroup.c src/program.c
$(FUZZ_DIR)/fuzz_proc: fuzz/fuzz_proc.c $(SCAN_SRCS) $(FUZZ_COMMON)
	$(FUZZ_LINK)
$(FUZZ_DIR)/fuzz_pamstack: fuzz/fuzz_pamstack.c src/pamstack.c $(FUZZ_COMMON)
	$(FUZZ_LINK)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@passed=0; failed=0; \
	for run in $(FUZZ_RUNS); do \
		t=$${run%%:*}; max_len=$${run#*:}; \
		work=$(FUZZ_DIR)/corpus/$$t; log=$(FUZZ_DIR)/$$t.log; \
		rm -rf $$work; mkdir -p $$work $(FUZZ_DIR)/artifacts; \
		cp fuzz/corpus/$$t/* $$work/; \
		dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
		if $(FUZZ_DIR)/$$t -max_total_time=$(FUZZ_TIME) -max_len=$$max_len \
			-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
			-print_final_stats=1 $$dict \
			-artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- $$work >$$log 2>&1; then \
			passed=$$((passed + 1)); \
			echo "$$t: ok, $$(sed -n 's/^stat::number_of_executed_units: *//p' $$log) runs in $(FUZZ_TIME)s"; \
		else \
			failed=$$((failed + 1)); \
			tail -n 40 $$log; \
			echo "$$t: FAILED (log $$log, input in $(FUZZ_DIR)/artifacts/)"; \
		fi; \
	done; \
	echo "fuzz: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

# lint: cppcheck, clang-tidy (.clang-tidy) and clang-format (.clang-format)
# over every C file and header; each must be clean. A finding is fixed, or
# silenced inline (cppcheck-suppress, NOLINT) with the reason next to it.
LINT_C     := $(sort $(wildcard *.c src/*.c guard/*.c cmd/*.c tests/*.c tests/pamdriver/*.c fuzz/*.c bench/*.c))
LINT_H     := $(sort $(wildcard include/*.h tests/*.h cmd/*.h))
LINT_JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
TIDY_FLAGS := $(ALL_CFLAGS) -Itests

.PHONY: lint lint-cppcheck lint-tidy lint-format
lint:
	@passed=0; failed=0; \
	for tool in cppcheck tidy format; do \
		if $(MAKE) --no-print-directory lint-$$tool; then \
			passed=$$((passed + 1)); \
		else \
			failed=$$((failed + 1)); echo "lint-$$tool: FAILED"; \
		fi; \
	done; \
	echo "lint: $$passed passed, $$failed failed"; \
	[ $$failed -eq 0 ]

lint-cppcheck:
	cppcheck --std=c11 --enable=warning,style,performance,portability \
		--error-exitcode=1 --inline-suppr --quiet -Iinclude -Itests $(LINT_C)

# One clang-tidy per file, in parallel; its "N warnings generated" chatter
# goes to stderr and is dropped, the findings go to stdout.
lint-tidy:
	printf '%s\n' $(LINT_C) | xargs -P $(LINT_JOBS) -I{} \
		sh -c 'clang-tidy --quiet {} -- $(TIDY_FLAGS) 2>/dev/null'

lint-format:
	clang-format --dry-run -Werror $(LINT_C) $(LINT_H)

# ---------------------------------------------------------------------------
# Benchmark (bench/, see bench/README.md).
# ---------------------------------------------------------------------------

# bench: as root. Boots the end-to-end test's container and prints the
# server-side session close time per case (median, p95, ratios to the
# baselines of the same run) and where the module's time goes, then the
# callgrind instruction count of the process selection over a fake /proc
# of 10 000 processes. About 7 minutes on 2 cores. bench-scan: the
# instruction count alone (no root, no container; needs valgrind).
SCAN_BENCH := $(BUILDDIR)/bench/scan_bench
.PHONY: bench bench-scan
$(SCAN_BENCH): bench/scan_bench.c $(SCAN_SRCS) src/fileio.c src/clock.c src/number.c src/log.c \
		src/strlist.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^)

bench-scan: $(SCAN_BENCH)
	@bench/scan-count $(SCAN_BENCH)

bench: $(SCAN_BENCH)
	@KS_BENCH_SCAN_BIN=$(abspath $(SCAN_BENCH)) bench/run
