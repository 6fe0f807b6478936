# pam_keepsession — see README.md.
PACKAGE    := pam_keepsession
VERSION    := 0.1.0

PREFIX     ?= /usr
SYSCONFDIR ?= /etc
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/$(PACKAGE)
PKG_CONFIG ?= pkg-config
# Where the platform's libpam looks for modules: pam.pc's securedir where it
# has one (Linux-PAM >= 1.6), else <libdir of libpam>/security.
PAMDIR     ?= $(or $(shell $(PKG_CONFIG) --variable=securedir pam 2>/dev/null),$(shell $(PKG_CONFIG) --variable=libdir pam 2>/dev/null)/security)

CC         ?= cc
BUILDDIR   ?= build
HARDENING  := -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC
WARNINGS   := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wpointer-arith \
              -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS     ?= -g
ALL_CFLAGS := -std=gnu11 $(HARDENING) $(WARNINGS) -Iinclude \
              $(shell $(PKG_CONFIG) --cflags pam libsystemd) $(CFLAGS) $(EXTRA_CFLAGS)
LIBS       := $(shell $(PKG_CONFIG) --libs pam libsystemd)
MODULE_LDFLAGS := -shared -Wl,-z,relro,-z,now -Wl,-z,defs -Wl,--as-needed \
              -Wl,--version-script=pam_keepsession.map

UNIT_SRCS  := $(sort $(wildcard src/*.c))
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILDDIR)/%.o)
MODULE_OBJ := $(BUILDDIR)/pam_keepsession.o
MODULE     := $(BUILDDIR)/pam_keepsession.so

TEST_SRCS     := $(sort $(wildcard tests/test_*.c))
TEST_BINS     := $(TEST_SRCS:tests/%.c=$(BUILDDIR)/tests/%)
TEST_HELPERS  := $(filter-out $(TEST_SRCS),$(sort $(wildcard tests/*.c)))
TEST_HELPER_OBJS := $(TEST_HELPERS:%.c=$(BUILDDIR)/%.o)
TEST_LIBS     := $(LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

.PHONY: all check check-asan check-valgrind e2e install uninstall clean
all: $(MODULE)

# The module is built with hidden visibility; the version script exports
# only the pam_sm_* entry points.
$(BUILDDIR)/%.o: %.c $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -c -o $@ $<

$(MODULE): $(MODULE_OBJ) $(UNIT_OBJS) pam_keepsession.map
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(MODULE_LDFLAGS) -o $@ $(MODULE_OBJ) $(UNIT_OBJS) $(LIBS)

$(BUILDDIR)/tests/%: tests/%.c $(UNIT_OBJS) $(TEST_HELPER_OBJS) $(MODULE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(UNIT_OBJS) $(TEST_HELPER_OBJS) $(TEST_LIBS)

# Each test binary prints cmocka's summary; the wrapper adds one closing
# "N passed, N failed" line over all of them.
check: $(TEST_BINS)
	@MODULE=$(abspath $(MODULE)) tests/run-unit-tests $(TEST_BINS)

check-asan:
	$(MAKE) BUILDDIR=build/asan EXTRA_CFLAGS="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" check

check-valgrind: $(TEST_BINS)
	@MODULE=$(abspath $(MODULE)) VALGRIND=1 tests/run-unit-tests $(TEST_BINS)

e2e:
	tests/e2e/run

install: $(MODULE)
	install -d $(DESTDIR)$(PAMDIR)
	install -m 0644 $(MODULE) $(DESTDIR)$(PAMDIR)/pam_keepsession.so

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_keepsession.so

clean:
	rm -rf $(BUILDDIR)
