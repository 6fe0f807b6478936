/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ks_kept.h"
#include "ks_unitname.h"
#include "logcap.h"

static void test_unit_names(void **state)
{
	char name[KS_UNIT_NAME_MAX + 1], longname[400];

	(void)state;
	assert_true(ks_kept_unit_name_valid("keepsession-alice-tmux-1234.scope"));
	assert_true(ks_kept_unit_name_valid("keepsession-j\\x2edoe-tmux-1.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-.scope"));
	assert_false(ks_kept_unit_name_valid("session-3.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-alice-tmux-1234.service"));
	assert_false(ks_kept_unit_name_valid("keepsession-a b.scope"));
	assert_false(ks_kept_unit_name_valid("keepsession-a/b.scope"));
	assert_false(ks_kept_unit_name_valid("xkeepsession-a.scope"));
	assert_false(ks_kept_unit_name_valid(""));
	(void)snprintf(longname, sizeof(longname), "keepsession-%0300d.scope", 1);
	assert_false(ks_kept_unit_name_valid(longname));

	/* What the module names is ours, and carries its pid. */
	assert_true(ks_scope_name("alice", "tmux", 4321, name, sizeof(name)) > 0);
	assert_true(ks_kept_unit_name_valid(name));
	assert_int_equal(ks_kept_unit_pid(name), 4321);
	assert_int_equal(ks_kept_unit_pid("keepsession-alice-tmux-1234.scope"), 1234);
	assert_int_equal(ks_kept_unit_pid("keepsession-alice-tmux.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-1234.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-a-99999999999.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("keepsession-a-0.scope"), 0);
	assert_int_equal(ks_kept_unit_pid("session-1234.scope"), 0);
}

static void test_description(void **state)
{
	char *program, *user, *session;

	(void)state;
	assert_int_equal(ks_kept_parse_description(
				 "tmux of user alice kept from session 3 by pam_keepsession",
				 &program, &user, &session),
			 0);
	assert_string_equal(program, "tmux");
	assert_string_equal(user, "alice");
	assert_string_equal(session, "3");
	free(program);
	free(user);
	free(session);

	assert_int_equal(ks_kept_parse_description("/usr/bin/screen of user j.doe kept from "
						   "session c12 by pam_keepsession",
						   &program, &user, &session),
			 0);
	assert_string_equal(program, "/usr/bin/screen");
	assert_string_equal(user, "j.doe");
	assert_string_equal(session, "c12");
	free(program);
	free(user);
	free(session);

	static const char *const bad[] = {
		"",
		"tmux",
		"keepsession-alice-tmux-1.scope",
		" of user alice kept from session 3 by pam_keepsession",
		"tmux of user  kept from session 3 by pam_keepsession",
		"tmux of user alice kept from session  by pam_keepsession",
		"tmux of user alice kept from session 3",
		"tmux of user alice kept from session 3 by pam_keepsession!",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ks_kept_parse_description(bad[i], &program, &user, &session),
				 -EINVAL);
		assert_null(program);
		assert_null(user);
		assert_null(session);
	}
}

static void test_count_procs(void **state)
{
	char *dir = scratch_dir(), *sub, *procs;

	(void)state;
	assert_non_null(dir);
	sub = scratch_path(dir, "k.scope");
	assert_non_null(sub);
	assert_int_equal(mkdir(sub, 0755), 0);
	procs = scratch_write(sub, "cgroup.procs", "12\n13\n14\n", 9, 0644);
	assert_non_null(procs);
	assert_int_equal(ks_kept_count_procs(dir, "/k.scope"), 3);
	assert_int_equal(ks_kept_count_procs(dir, "/gone.scope"), -ENOENT);
	assert_int_equal(ks_kept_count_procs(dir, "k.scope"), -EINVAL);
	assert_int_equal(ks_kept_count_procs(dir, "/x/../k.scope"), -EINVAL);
	free(procs);
	free(sub);
	scratch_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_names),
		cmocka_unit_test(test_description),
		cmocka_unit_test(test_count_procs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
