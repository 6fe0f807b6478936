/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ks_program.h"

static void test_program_match(void **state)
{
	struct ks_strlist l = { 0 };

	(void)state;
	assert_int_equal(ks_strlist_add_split(&l, "tmux /opt/bin/screen  dtach"), 0);
	assert_ptr_equal(ks_program_match(&l, "/usr/bin/tmux"), l.v[0]);
	assert_ptr_equal(ks_program_match(&l, "/usr/local/bin/tmux"), l.v[0]);
	assert_ptr_equal(ks_program_match(&l, "/usr/bin/tmux (deleted)"), l.v[0]);
	assert_ptr_equal(ks_program_match(&l, "tmux"), l.v[0]);
	assert_null(ks_program_match(&l, "/usr/bin/tmux-wrapper"));
	assert_null(ks_program_match(&l, "/usr/bin/tmux.real"));
	assert_null(ks_program_match(&l, "/usr/bin/xtmux"));
	assert_null(ks_program_match(&l, "/usr/bin/tmux/"));
	assert_null(ks_program_match(&l, "/usr/bin/tmux (deleted) (deleted)"));
	/* An absolute entry is that path only. */
	assert_ptr_equal(ks_program_match(&l, "/opt/bin/screen"), l.v[1]);
	assert_ptr_equal(ks_program_match(&l, "/opt/bin/screen (deleted)"), l.v[1]);
	assert_null(ks_program_match(&l, "/usr/bin/screen"));
	assert_null(ks_program_match(&l, "screen"));
	assert_null(ks_program_match(&l, "/opt/bin/screen2"));
	assert_ptr_equal(ks_program_match(&l, "/x/dtach"), l.v[2]);
	assert_null(ks_program_match(&l, ""));
	assert_null(ks_program_match(&l, " (deleted)"));
	assert_null(ks_program_match(&l, NULL));
	assert_null(ks_program_match(NULL, "/usr/bin/tmux"));

	/* An empty entry matches nothing, not even an empty base name. */
	ks_strlist_clear(&l);
	assert_int_equal(ks_strlist_add(&l, "", 0), 0);
	assert_null(ks_program_match(&l, "/usr/bin/"));
	assert_null(ks_program_match(&l, ""));
	ks_strlist_clear(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
