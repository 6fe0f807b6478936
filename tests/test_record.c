/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/time.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "logcap.h"
#include "ks_record.h"

#define GOOD "pam_keepsession-record 1\nleader 42\nstarttime 777\ncreated 5000000\nuid 1000\n"

static struct ks_record sample(void)
{
	struct ks_record r = {
		.leader = 42, .starttime = 777, .created_usec = 5000000, .uid = 1000
	};

	assert_int_equal(ks_strlist_add_split(&r.args, "debug users=alice"), 0);
	return r;
}

/* The record directory of a test: <scratch>/run, made by the writer. */
struct dir {
	char *scratch;
	char *run;
};

static void dir_init(struct dir *d)
{
	d->scratch = scratch_dir();
	assert_non_null(d->scratch);
	d->run = scratch_path(d->scratch, "run");
	assert_non_null(d->run);
}

static void dir_free(struct dir *d)
{
	free(d->run);
	scratch_remove(d->scratch);
}

static void write_raw(const struct dir *d, const char *name, const char *text, mode_t mode)
{
	char *path;

	if (mkdir(d->run, 0700) < 0)
		assert_int_equal(errno, EEXIST);
	path = scratch_write(d->run, name, text, strlen(text), mode);
	assert_non_null(path);
	free(path);
}

static void test_format_parse_round_trip(void **state)
{
	struct ks_record r = sample(), back;
	char buf[KS_RECORD_MAX_SIZE + 1];
	int len;

	(void)state;
	len = ks_record_format(&r, buf, sizeof(buf));
	assert_true(len > 0);
	assert_string_equal(buf, GOOD "arg debug\narg users=alice\n");
	assert_int_equal(ks_record_parse(buf, (size_t)len, &back), 0);
	assert_int_equal(back.leader, 42);
	assert_int_equal(back.starttime, 777);
	assert_int_equal(back.created_usec, 5000000);
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.args.n, 2);
	assert_string_equal(back.args.v[0], "debug");
	assert_string_equal(back.args.v[1], "users=alice");
	assert_int_equal(back.kept, 0);
	ks_record_free(&back);
	ks_record_free(&r);
}

/* close_session's count: written when there is one, read back; a record
 * without it (open_session's, or one from before the field) reads 0. */
static void test_kept_round_trip(void **state)
{
	static const unsigned counts[] = { 1, 3, 16, KS_RECORD_MAX_KEPT };
	struct ks_record r = sample(), back;
	char buf[KS_RECORD_MAX_SIZE + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		int len;

		r.kept = counts[i];
		len = ks_record_format(&r, buf, sizeof(buf));
		assert_true(len > 0);
		assert_int_equal(ks_record_parse(buf, (size_t)len, &back), 0);
		assert_int_equal(back.kept, counts[i]);
		assert_int_equal(back.args.n, 2);
		ks_record_free(&back);
	}
	r.kept = 16;
	assert_true(ks_record_format(&r, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, GOOD "kept 16\narg debug\narg users=alice\n");
	/* Any place among the lines, as the other keys. */
	assert_int_equal(
		ks_record_parse(GOOD "arg a\nkept 7\n", strlen(GOOD "arg a\nkept 7\n"), &back), 0);
	assert_int_equal(back.kept, 7);
	ks_record_free(&back);
	assert_int_equal(ks_record_parse(GOOD, strlen(GOOD), &back), 0);
	assert_int_equal(back.kept, 0);
	ks_record_free(&back);
	r.kept = KS_RECORD_MAX_KEPT + 1;
	assert_int_equal(ks_record_format(&r, buf, sizeof(buf)), -EINVAL);
	ks_record_free(&r);
}

/* The update close_session makes: same file, same checks, the count in. */
static void test_set_kept(void **state)
{
	struct ks_record r = sample(), back;
	struct dir d;

	(void)state;
	dir_init(&d);
	assert_int_equal(ks_record_set_kept(d.run, 42, getuid(), 3), -ENOENT);
	assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	assert_int_equal(ks_record_set_kept(d.run, 42, getuid(), 3), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), 0);
	assert_int_equal(back.kept, 3);
	assert_int_equal(back.starttime, 777);
	assert_int_equal(back.created_usec, 5000000);
	assert_int_equal(back.uid, 1000);
	assert_int_equal(back.args.n, 2);
	assert_string_equal(back.args.v[1], "users=alice");
	ks_record_free(&back);
	assert_int_equal(ks_record_set_kept(d.run, 42, getuid(), KS_RECORD_MAX_KEPT + 1), -EINVAL);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), 0);
	assert_int_equal(back.kept, 3);
	ks_record_free(&back);
	/* A directory that is not ours is not written through. */
	assert_int_equal(ks_record_set_kept(d.run, 42, getuid() + 1, 5), -EPERM);
	/* A record that fails the reader's checks is not rewritten. */
	write_raw(&d, "43", "pam_keepsession-record 1\nleader 43\n", 0600);
	assert_int_equal(ks_record_set_kept(d.run, 43, getuid(), 5), -EBADMSG);
	ks_record_free(&r);
	dir_free(&d);
}

static void test_format_refuses(void **state)
{
	struct ks_record r = sample();
	char buf[KS_RECORD_MAX_SIZE + 1];

	(void)state;
	assert_int_equal(ks_strlist_add(&r.args, "a\nleader 1", 10), 0);
	assert_int_equal(ks_record_format(&r, buf, sizeof(buf)), -EINVAL);
	ks_record_free(&r);

	r = sample();
	for (int i = 0; i < KS_RECORD_MAX_ARGS; i++)
		assert_int_equal(ks_strlist_add(&r.args, "debug", 5), 0);
	assert_int_equal(ks_record_format(&r, buf, sizeof(buf)), -EINVAL);
	ks_record_free(&r);

	r = sample();
	assert_int_equal(ks_record_format(&r, buf, 40), -E2BIG);
	r.leader = 0;
	assert_int_equal(ks_record_format(&r, buf, sizeof(buf)), -EINVAL);
	ks_record_free(&r);
}

static void test_parse_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage\n",
		"pam_keepsession-record 2\nleader 42\nstarttime 777\ncreated 5000000\nuid 1000\n",
		/* a key missing */
		"pam_keepsession-record 1\nleader 42\nstarttime 777\ncreated 5000000\n",
		/* a key twice */
		GOOD "uid 0\n",
		/* numbers: sign, blank, hex, overflow, zero leader, uid -1 */
		"pam_keepsession-record 1\nleader -42\nstarttime 777\ncreated 5000000\nuid 1000\n",
		"pam_keepsession-record 1\nleader  42\nstarttime 777\ncreated 5000000\nuid 1000\n",
		"pam_keepsession-record 1\nleader 0x2a\nstarttime 777\ncreated 5000000\nuid 1000\n",
		"pam_keepsession-record 1\nleader 2147483648\nstarttime 7\ncreated 5\nuid 1000\n",
		"pam_keepsession-record 1\nleader 42\nstarttime 99999999999999999999\ncreated "
		"5\nuid "
		"1000\n",
		"pam_keepsession-record 1\nleader 0\nstarttime 777\ncreated 5000000\nuid 1000\n",
		"pam_keepsession-record 1\nleader 42\nstarttime 777\ncreated 5000000\nuid "
		"4294967295\n",
		/* cut short, unknown key, empty arg, control character */
		GOOD "arg debug",
		GOOD "colour blue\n",
		GOOD "arg \n",
		GOOD "arg a\tb\n",
		GOOD "arg a\rb\n",
		/* kept: negative, past any max_trees, overflowing, garbage,
		 * blank, twice */
		GOOD "kept -1\n",
		GOOD "kept 4097\n",
		GOOD "kept 99999999999999999999999\n",
		GOOD "kept 18446744073709551617\n",
		GOOD "kept lots\n",
		GOOD "kept 3x\n",
		GOOD "kept \n",
		GOOD "kept\n",
		GOOD "kept 3\nkept 3\n",
	};
	struct ks_record r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int got = ks_record_parse(bad[i], strlen(bad[i]), &r);

		if (got != -EBADMSG)
			fprintf(stderr, "case %zu parsed: %d\n", i, got);
		assert_int_equal(got, -EBADMSG);
		assert_int_equal(r.args.n, 0);
	}
	/* A NUL byte inside. */
	assert_int_equal(ks_record_parse(GOOD "arg a\0b\n", sizeof(GOOD "arg a\0b\n") - 1, &r),
			 -EBADMSG);
}

static void test_parse_arg_limit(void **state)
{
	char text[KS_RECORD_MAX_SIZE + 64] = GOOD;
	struct ks_record r;

	(void)state;
	for (int i = 0; i < KS_RECORD_MAX_ARGS; i++)
		strcat(text, "arg debug\n");
	assert_int_equal(ks_record_parse(text, strlen(text), &r), 0);
	assert_int_equal(r.args.n, KS_RECORD_MAX_ARGS);
	ks_record_free(&r);
	strcat(text, "arg debug\n");
	assert_int_equal(ks_record_parse(text, strlen(text), &r), -EBADMSG);
}

static void test_write_read_remove(void **state)
{
	struct ks_record r = sample(), back;
	struct stat st;
	struct dir d;
	char *path;

	(void)state;
	dir_init(&d);
	assert_false(ks_record_any(d.run, getuid())); /* no directory yet */
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -ENOENT);
	assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	assert_int_equal(stat(d.run, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	path = scratch_path(d.run, "42");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(ks_record_any(d.run, getuid()));

	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), 0);
	assert_int_equal(back.starttime, 777);
	assert_string_equal(back.args.v[1], "users=alice");
	ks_record_free(&back);
	assert_int_equal(ks_record_read(d.run, 43, getuid(), &back), -ENOENT);

	/* Written again (a reused pid): replaced whole. */
	r.starttime = 888;
	assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), 0);
	assert_int_equal(back.starttime, 888);
	ks_record_free(&back);

	assert_int_equal(ks_record_remove(d.run, 42), 0);
	assert_int_equal(ks_record_remove(d.run, 42), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -ENOENT);
	assert_false(ks_record_any(d.run, getuid()));
	free(path);
	ks_record_free(&r);
	dir_free(&d);
}

static void test_read_hostile_files(void **state)
{
	struct ks_record back;
	struct dir d;
	char *path, *target, big[KS_RECORD_MAX_SIZE + 2];

	(void)state;
	hang_guard(20); /* a FIFO must never block the read */
	dir_init(&d);

	/* Not the trusted owner's. */
	write_raw(&d, "42", GOOD, 0600);
	assert_int_equal(ks_record_read(d.run, 42, getuid() + 1, &back), -EPERM);
	/* Open to others. */
	write_raw(&d, "42", GOOD, 0644);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	/* A symlink to a good record is not followed. */
	write_raw(&d, "7", GOOD, 0600);
	path = scratch_path(d.run, "42");
	(void)unlink(path);
	assert_int_equal(symlink("7", path), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	/* A FIFO. */
	(void)unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	/* A directory. */
	(void)unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	(void)rmdir(path);
	/* Oversized. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_raw(&d, "42", big, 0600);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EFBIG);
	/* Garbage. */
	write_raw(&d, "42", "\x01\x02garbage", 0600);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EBADMSG);
	/* A good record under another leader's name. */
	write_raw(&d, "43", GOOD, 0600);
	assert_int_equal(ks_record_read(d.run, 43, getuid(), &back), -EBADMSG);
	/* Not a pid at all. */
	assert_int_equal(ks_record_read(d.run, 0, getuid(), &back), -ENOENT);

	/* The directory itself: open to others, or a symlink to a good one. */
	write_raw(&d, "42", GOOD, 0600);
	assert_int_equal(chmod(d.run, 0755), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	assert_false(ks_record_any(d.run, getuid()));
	assert_int_equal(chmod(d.run, 0700), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), 0);
	ks_record_free(&back);
	target = scratch_path(d.scratch, "elsewhere");
	assert_int_equal(rename(d.run, target), 0);
	assert_int_equal(symlink(target, d.run), 0);
	assert_int_equal(ks_record_read(d.run, 42, getuid(), &back), -EPERM);
	assert_false(ks_record_any(d.run, getuid()));
	alarm(0);
	free(target);
	free(path);
	dir_free(&d);
}

static void test_write_refuses_foreign_dir(void **state)
{
	struct ks_record r = sample();
	struct dir d;
	char *target;

	(void)state;
	dir_init(&d);
	assert_int_equal(mkdir(d.run, 0755), 0);
	assert_int_equal(ks_record_write(d.run, &r, getuid()), -EPERM);
	assert_int_equal(chmod(d.run, 0700), 0);
	assert_int_equal(ks_record_write(d.run, &r, getuid() + 1), -EPERM);
	/* A symlinked directory is never written through. */
	target = scratch_path(d.scratch, "elsewhere");
	assert_int_equal(rename(d.run, target), 0);
	assert_int_equal(symlink(target, d.run), 0);
	assert_int_equal(ks_record_write(d.run, &r, getuid()), -EPERM);
	free(target);
	ks_record_free(&r);
	dir_free(&d);
}

static void test_matches(void **state)
{
	struct ks_record r = sample();
	const uint64_t created = r.created_usec;
	struct fakeproc fp;

	(void)state;
	fakeproc_init(&fp, "/user.slice/user-1000.slice/session-7.scope");
	/* The leader is gone: the stamp decides. The session created 10 ms
	 * after the record. */
	assert_true(ks_record_matches(&r, 42, 1000, created + 10000, fp.proc));
	/* Another leader, another user. */
	assert_false(ks_record_matches(&r, 43, 1000, created + 10000, fp.proc));
	assert_false(ks_record_matches(&r, 42, 1001, created + 10000, fp.proc));
	/* A session created before the record, or long after it. */
	assert_false(ks_record_matches(&r, 42, 1000, created - 1, fp.proc));
	assert_true(ks_record_matches(&r, 42, 1000, created + KS_RECORD_MAX_LAG_USEC, fp.proc));
	assert_false(
		ks_record_matches(&r, 42, 1000, created + KS_RECORD_MAX_LAG_USEC + 1, fp.proc));

	/* The leader runs: it must be the record's writer. */
	fake_proc_ex(&fp,
		     &(struct fake){ .pid = 42, .ppid = 1, .starttime = 777, .outside = true });
	assert_true(ks_record_matches(&r, 42, 1000, created + 10000, fp.proc));
	/* A later process with the pid (a failed login's record, a session
	 * led by the reused pid within the lag). */
	fake_proc_ex(&fp,
		     &(struct fake){ .pid = 42, .ppid = 1, .starttime = 778, .outside = true });
	assert_false(ks_record_matches(&r, 42, 1000, created + 10000, fp.proc));
	/* A leader that cannot be read matches nothing. */
	fake_proc_ex(&fp, &(struct fake){ .pid = 42, .stat = "garbage", .outside = true });
	assert_false(ks_record_matches(&r, 42, 1000, created + 10000, fp.proc));
	fakeproc_remove(&fp);
	ks_record_free(&r);
}

static int stale_if_odd(void *ctx, const struct ks_record *rec)
{
	unsigned *calls = ctx;

	(*calls)++;
	return rec->leader % 2 == 1;
}

static void test_sweep(void **state)
{
	struct ks_record r = sample();
	struct timeval old[2] = { { .tv_sec = 1000 }, { .tv_sec = 1000 } };
	unsigned calls = 0;
	struct ks_record back;
	struct dir d;
	char *path;

	(void)state;
	dir_init(&d);
	assert_int_equal(ks_record_sweep(d.run, getuid(), stale_if_odd, &calls), -ENOENT);
	for (pid_t pid = 10; pid < 14; pid++) {
		r.leader = pid;
		assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	}
	write_raw(&d, "20", "garbage", 0600);
	write_raw(&d, "22", GOOD, 0644);
	path = scratch_path(d.run, "24");
	assert_int_equal(symlink("10", path), 0);
	free(path);
	write_raw(&d, "notes", "not ours", 0600);
	write_raw(&d, ".tmp-30", "being written", 0600);
	write_raw(&d, ".tmp-31", "left over", 0600);
	path = scratch_path(d.run, ".tmp-31");
	assert_int_equal(utimes(path, old), 0);
	free(path);

	/* 11, 13 stale; 20, 22, 24 not records; .tmp-31 left over. */
	assert_int_equal(ks_record_sweep(d.run, getuid(), stale_if_odd, &calls), 6);
	assert_int_equal(calls, 4);
	assert_int_equal(ks_record_read(d.run, 10, getuid(), &back), 0);
	ks_record_free(&back);
	assert_int_equal(ks_record_read(d.run, 12, getuid(), &back), 0);
	ks_record_free(&back);
	assert_int_equal(ks_record_read(d.run, 11, getuid(), &back), -ENOENT);
	assert_int_equal(ks_record_read(d.run, 24, getuid(), &back), -ENOENT);
	path = scratch_path(d.run, "notes");
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	path = scratch_path(d.run, ".tmp-30");
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	path = scratch_path(d.run, ".tmp-31");
	assert_int_equal(access(path, F_OK), -1);
	free(path);

	/* Not the trusted owner's directory: nothing is touched. */
	assert_int_equal(ks_record_sweep(d.run, getuid() + 1, stale_if_odd, &calls), -EPERM);
	ks_record_free(&r);
	dir_free(&d);
}

/* Every record stale, until the caller runs out of time at the third. */
static int stale_until_third(void *ctx, const struct ks_record *rec)
{
	unsigned *calls = ctx;

	(void)rec;
	return ++(*calls) >= 3 ? -ETIMEDOUT : 1;
}

static void test_sweep_stops(void **state)
{
	struct ks_record r = sample();
	unsigned calls = 0;
	struct dir d;

	(void)state;
	dir_init(&d);
	for (pid_t pid = 1; pid <= 10; pid++) {
		r.leader = pid;
		assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	}
	assert_int_equal(ks_record_sweep(d.run, getuid(), stale_until_third, &calls), 2);
	assert_int_equal(calls, 3);
	ks_record_free(&r);
	dir_free(&d);
}

static void test_sweep_is_bounded(void **state)
{
	struct ks_record r = sample();
	unsigned calls = 0;
	struct dir d;

	(void)state;
	dir_init(&d);
	for (pid_t pid = 1; pid <= KS_RECORD_SWEEP_MAX + 50; pid++) {
		r.leader = pid;
		assert_int_equal(ks_record_write(d.run, &r, getuid()), 0);
	}
	/* "." and ".." count among the entries looked at. */
	(void)ks_record_sweep(d.run, getuid(), stale_if_odd, &calls);
	assert_true(calls <= KS_RECORD_SWEEP_MAX);
	assert_true(calls >= KS_RECORD_SWEEP_MAX - 2);
	ks_record_free(&r);
	dir_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse_round_trip),
		cmocka_unit_test(test_kept_round_trip),
		cmocka_unit_test(test_set_kept),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_parse_arg_limit),
		cmocka_unit_test(test_write_read_remove),
		cmocka_unit_test(test_read_hostile_files),
		cmocka_unit_test(test_write_refuses_foreign_dir),
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_sweep),
		cmocka_unit_test(test_sweep_stops),
		cmocka_unit_test(test_sweep_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
