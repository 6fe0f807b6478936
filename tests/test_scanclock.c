/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The scan's deadline against a clock the test moves: ks_now_usec() is
 * wrapped at link time (-Wl,--wrap=ks_now_usec), so that time can pass
 * between two reads of one scan without a timed assertion.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "ks_clock.h"
#include "ks_proctree.h"

#define USER_UID 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"
#define DEADLINE 1000

/* The clock reads 0 for the first clock_reads_before reads, then
 * stands past DEADLINE. */
static unsigned clock_reads, clock_reads_before = UINT32_MAX;

uint64_t __wrap_ks_now_usec(void);
uint64_t __wrap_ks_now_usec(void)
{
	return clock_reads++ < clock_reads_before ? 0 : 2 * DEADLINE;
}

struct fx {
	struct fakeproc fp;
	struct ks_strlist programs;
	struct ks_scan scan;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	assert_int_equal(ks_strlist_add_split(&fx->programs, "tmux"), 0);
	fx->scan = (struct ks_scan){
		.proc_root = fx->fp.proc,
		.cgroup_root = fx->fp.cgroot,
		.cgroup = SESSION_CG,
		.uid = USER_UID,
		.programs = &fx->programs,
		.known = ks_proc_table_new(),
	};
	assert_non_null(fx->scan.known);
	clock_reads = 0;
	clock_reads_before = UINT32_MAX;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	ks_proc_table_free(fx->scan.known);
	ks_strlist_clear(&fx->programs);
	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

/*
 * A rescan whose processes all come from the table reads no stat, only
 * the status of the owned ones: those reads are within the deadline too.
 * The clock passes the deadline right after the cgroup walk.
 */
static void test_straggler_status_reads_deadline(void **state)
{
	struct fx *fx = *state;
	const struct ks_proc_id kept[] = { { 300, FAKE_STARTTIME(300) } };
	struct ks_selection sel = { 0 };
	struct ks_proc_id *out = NULL;
	size_t n_out = 0;

	fake_proc(&fx->fp, 300, 1, USER_UID, "/usr/bin/bash");
	for (pid_t pid = 301; pid < 400; pid++)
		fake_proc(&fx->fp, pid, 300, USER_UID, "/usr/bin/sleep");
	assert_int_equal(ks_select_trees(&fx->scan, &sel, NULL), 0);
	assert_int_equal(sel.n, 0);

	fx->scan.deadline = DEADLINE;
	clock_reads = 0;
	clock_reads_before = 1; /* the walk's one look */
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), -ETIMEDOUT);
	assert_null(out);
	assert_int_equal(n_out, 0);

	/* In time, all of them. */
	clock_reads_before = UINT32_MAX;
	assert_int_equal(ks_select_stragglers(&fx->scan, kept, 1, &out, &n_out), 0);
	assert_int_equal(n_out, 99);
	free(out);
}

/*
 * The selection reads status for the matched processes and the members
 * of their trees after the stat pass: past the deadline by then, the
 * selection gives up rather than read on.
 */
static void test_selection_status_reads_deadline(void **state)
{
	struct fx *fx = *state;
	struct ks_selection sel = { 0 };
	unsigned reads_in_time;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	for (pid_t pid = 201; pid < 300; pid++)
		fake_proc(&fx->fp, pid, 200, USER_UID, "/usr/bin/bash");

	/* Count the looks at the clock up to the end of the stat pass:
	 * the walk's and one per DEADLINE_EVERY reads of stat. */
	ks_proc_table_free(fx->scan.known);
	fx->scan.known = NULL;
	fx->scan.deadline = DEADLINE;
	assert_int_equal(ks_select_trees(&fx->scan, &sel, NULL), 0);
	assert_int_equal(sel.n, 1);
	assert_int_equal(sel.trees[0].n, 100);
	ks_selection_free(&sel);

	/* The walk looks once, the 100 stat reads 7 times (every 16th);
	 * past that, the status reads must see the deadline. */
	reads_in_time = 1 + (100 + 15) / 16;
	clock_reads = 0;
	clock_reads_before = reads_in_time;
	assert_int_equal(ks_select_trees(&fx->scan, &sel, NULL), -ETIMEDOUT);
	assert_int_equal(sel.n, 0);
}

/*
 * The members are read after the roots, later in the close: past the
 * deadline by then, the members' half gives up, and the roots stay
 * selected with the members read until then.
 */
static void test_members_deadline(void **state)
{
	struct fx *fx = *state;
	struct ks_selection sel = { 0 };
	struct ks_members *members = NULL;

	fake_proc(&fx->fp, 200, 1, USER_UID, "/usr/bin/tmux");
	for (pid_t pid = 201; pid < 300; pid++)
		fake_proc(&fx->fp, pid, 200, USER_UID, "/usr/bin/bash");
	fx->scan.deadline = DEADLINE;
	assert_int_equal(ks_select_roots(&fx->scan, &sel, &members, NULL), 0);
	assert_non_null(members);
	assert_int_equal(sel.n, 1);
	assert_int_equal(sel.trees[0].n, 1);
	assert_int_equal(sel.trees[0].room, 100);

	/* From here on the clock stands past the deadline. */
	clock_reads_before = clock_reads;
	assert_int_equal(ks_select_members(&fx->scan, members, &sel, NULL), -ETIMEDOUT);
	assert_int_equal(sel.n, 1);
	assert_int_equal(sel.trees[0].procs[0].pid, 200);
	assert_true(sel.trees[0].n < 100);
	ks_selection_free(&sel);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_straggler_status_reads_deadline),
		T(test_selection_status_reads_deadline),
		T(test_members_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
