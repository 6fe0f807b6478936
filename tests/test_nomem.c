/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Out of memory: the configuration load and the decision fail closed, and
 * say so. The units' malloc, realloc, strdup and strndup are wrapped at
 * link time (Makefile: TEST_LDFLAGS_test_nomem) so that the Nth one fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ks_config.h"
#include "ks_eligibility.h"
#include "logcap.h"

/* Allocations to let through before one fails; -1: never fail. */
static long fail_in = -1;
static unsigned failed;

static bool fail_now(void)
{
	if (fail_in < 0)
		return false;
	if (fail_in-- > 0)
		return false;
	failed++;
	return true;
}

void *__real_malloc(size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t size)
{
	return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_realloc(void *p, size_t size)
{
	return fail_now() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

static void arm(long n)
{
	fail_in = n;
	failed = 0;
}

static void disarm(void)
{
	fail_in = -1;
}

/*
 * Every allocation of a whole load fails in turn: each failed load
 * returns -ENOMEM and leaves a configuration that keeps no one, never a
 * half-loaded one (users read, deny not yet).
 */
static void test_config_load_fails_closed(void **state)
{
	static const char text[] = "users = alice, @wheel\n"
				   "deny = bob\n"
				   "commands = tmux, screen\n"
				   "optin = yes\n"
				   "user_commands = yes\n"
				   "slice = user-%U.slice\n";
	char *dir = scratch_dir();
	char *path = scratch_write(dir, "keepsession.conf", text, sizeof(text) - 1, 0644);
	char *conf = NULL;
	unsigned nomem = 0;
	long n;
	(void)state;

	assert_non_null(path);
	assert_true(asprintf(&conf, "conf=%s", path) > 0);
	for (n = 0; n < 1000; n++) {
		const char *argv[] = { conf, "debug", "deny=carol", "timeout=2s" };
		struct ks_config c;
		struct logcap cap;
		struct ks_log log = logcap_log(&cap);
		int r;

		assert_int_equal(ks_config_init(&c), 0);
		arm(n);
		r = ks_config_load(&c, 4, argv, getuid(), &log);
		disarm();
		if (failed == 0) {
			/* Past the last allocation: the whole load went through. */
			assert_int_equal(r, 0);
			assert_int_equal(c.users.n, 2);
			assert_true(c.optin && c.user_commands);
			ks_config_free(&c);
			break;
		}
		assert_int_equal(r, -ENOMEM);
		nomem++;
		if (c.users.n != 0 || c.commands.n != 0 || c.optin || c.user_commands)
			fail_msg("allocation %ld failed: users %zu, commands %zu, optin %d, "
				 "user_commands %d",
				 n, c.users.n, c.commands.n, c.optin, c.user_commands);
		ks_config_free(&c);
	}
	assert_true(n < 1000);
	assert_true(nomem >= 8); /* every line allocates */
	free(conf);
	free(path);
	scratch_remove(dir);
}

static int lookup_alice(void *ctx, const char *name, struct ks_user *u)
{
	(void)ctx;
	(void)name;
	*u = (struct ks_user){ .name = "alice", .uid = 1000, .gid = 1000, .home = "/home/alice" };
	return 0;
}

static enum ks_optin_status no_file(void *ctx, const struct ks_user *u, const char *path,
				    struct ks_strlist *lines, const struct ks_log *log)
{
	(void)ctx;
	(void)u;
	(void)path;
	(void)lines;
	(void)log;
	return KS_OPTIN_ABSENT;
}

/* The decision cannot copy the program list: nothing kept, one line. */
static void test_decision_nomem_logged(void **state)
{
	const struct ks_eligibility_io io = { .lookup_user = lookup_alice, .read_optin = no_file };
	struct ks_strlist programs = { 0 };
	struct ks_config c;
	struct ks_user u;
	struct logcap cap;
	struct ks_log log = logcap_log(&cap);
	bool keep;
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	assert_int_equal(ks_strlist_add_split(&c.users, "alice"), 0);
	log.debug = false;
	arm(0);
	keep = ks_eligible(&c, "alice", &io, &u, &programs, &log);
	disarm();
	assert_false(keep);
	assert_true(failed > 0);
	assert_int_equal(programs.n, 0);
	assert_int_equal(cap.n, 1);
	assert_int_equal(cap.prio[0], LOG_ERR);
	assert_string_equal(cap.line[0],
			    "out of memory deciding what to keep of alice: nothing kept");

	/* With memory, the same call keeps. */
	assert_true(ks_eligible(&c, "alice", &io, &u, &programs, &log));
	ks_strlist_clear(&programs);
	ks_config_free(&c);
}

/*
 * Narrowing the admin's programs to the user's lines (the intersection)
 * fails with -ENOMEM, never -1 and never a silent "not kept": every
 * allocation fails in turn, and each failure leaves nothing to keep.
 */
static void test_narrowing_nomem(void **state)
{
	struct ks_strlist lines = { 0 }, programs = { 0 };
	struct ks_config c;
	unsigned nomem = 0;
	long n;
	(void)state;

	assert_int_equal(ks_config_init(&c), 0);
	assert_int_equal(ks_strlist_add_split(&lines, "tmux screen"), 0);
	for (n = 0; n < 100; n++) {
		int r;

		arm(n);
		r = ks_policy_decide(&c, KS_WHO_LISTED, KS_OPTIN_OK, &lines, &programs);
		disarm();
		if (failed == 0) {
			assert_int_equal(r, 1);
			assert_int_equal(programs.n, 2);
			break;
		}
		nomem++;
		assert_int_equal(r, -ENOMEM);
		assert_int_equal(programs.n, 0);
	}
	assert_true(n < 100);
	assert_true(nomem >= 2); /* each of the two programs allocates */
	ks_strlist_clear(&programs);
	ks_strlist_clear(&lines);
	ks_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_load_fails_closed),
		cmocka_unit_test(test_decision_nomem_logged),
		cmocka_unit_test(test_narrowing_nomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
