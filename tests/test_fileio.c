/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks_fileio.h"
#include "ks_number.h"
#include "logcap.h"

static int setup(void **state)
{
	*state = scratch_dir();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	scratch_remove(*state);
	return 0;
}

static int read_in(const char *dir, const char *name, size_t size, bool must_fit, char *buf,
		   size_t *len)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	assert_true(dfd >= 0);
	r = ks_read_file_at(dfd, name, O_NOFOLLOW, buf, size, must_fit, len);
	close(dfd);
	return r;
}

static void test_reads_whole_file(void **state)
{
	char buf[16];
	size_t len = 99;

	free(scratch_write(*state, "f", "hello", 5, 0644));
	assert_int_equal(read_in(*state, "f", sizeof(buf), true, buf, &len), 0);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
}

static void test_exact_fit_is_not_too_big(void **state)
{
	char buf[6];
	size_t len = 0;

	free(scratch_write(*state, "f", "hello", 5, 0644));
	assert_int_equal(read_in(*state, "f", sizeof(buf), true, buf, &len), 0);
	assert_int_equal(len, 5);
}

static void test_longer_file_refused_or_cut(void **state)
{
	char buf[5];
	size_t len = 0;

	free(scratch_write(*state, "f", "hello", 5, 0644));
	assert_int_equal(read_in(*state, "f", sizeof(buf), true, buf, &len), -EFBIG);
	assert_int_equal(read_in(*state, "f", sizeof(buf), false, buf, &len), 0);
	assert_int_equal(len, 4);
	assert_string_equal(buf, "hell");
}

static void test_empty_file(void **state)
{
	char buf[4] = "xyz";
	size_t len = 9;

	free(scratch_write(*state, "f", "", 0, 0644));
	assert_int_equal(read_in(*state, "f", sizeof(buf), true, buf, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(buf, "");
}

/* A FIFO would block a reader forever; a directory or a symlink (with
 * O_NOFOLLOW) is not what the caller asked for. */
static void test_only_regular_files_open(void **state)
{
	char *fifo = scratch_path(*state, "fifo");
	char *dir = scratch_path(*state, "dir");
	char *link = scratch_path(*state, "link");
	char buf[8];
	size_t len;

	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(dir, 0700), 0);
	free(scratch_write(*state, "f", "x", 1, 0644));
	assert_int_equal(symlink("f", link), 0);
	assert_int_equal(read_in(*state, "fifo", sizeof(buf), true, buf, &len), -EINVAL);
	assert_int_equal(read_in(*state, "dir", sizeof(buf), true, buf, &len), -EINVAL);
	assert_int_equal(read_in(*state, "link", sizeof(buf), true, buf, &len), -ELOOP);
	assert_int_equal(read_in(*state, "absent", sizeof(buf), true, buf, &len), -ENOENT);
	assert_int_equal(ks_open_regular_at(AT_FDCWD, link, 0) >= 0, true);
	free(fifo);
	free(dir);
	free(link);
}

static void test_zero_size_buffer(void **state)
{
	char c;
	size_t len;

	(void)state;
	assert_int_equal(ks_read_bounded(0, &c, 0, true, &len), -EINVAL);
}

static void test_trust(void **state)
{
	struct stat st = { .st_mode = S_IFREG | 0644, .st_uid = 7, .st_size = 10 };
	const mode_t w = S_IWGRP | S_IWOTH;

	(void)state;
	assert_int_equal(ks_file_trust(&st, 7, w, 10), KS_FILE_TRUSTED);
	assert_int_equal(ks_file_trust(&st, 7, w, 9), KS_FILE_TOO_LARGE);
	assert_int_equal(ks_file_trust(&st, 8, w, 10), KS_FILE_NOT_OWNED);
	assert_int_equal(ks_file_trust(&st, 7, 077, 10), KS_FILE_WRITABLE_BY_OTHERS);
	st.st_mode = S_IFREG | 0664;
	assert_int_equal(ks_file_trust(&st, 7, w, 10), KS_FILE_WRITABLE_BY_OTHERS);
	st.st_mode = S_IFREG | 0646;
	assert_int_equal(ks_file_trust(&st, 7, w, 10), KS_FILE_WRITABLE_BY_OTHERS);
	st.st_mode = S_IFIFO | 0600;
	assert_int_equal(ks_file_trust(&st, 7, w, 10), KS_FILE_NOT_REGULAR);
	assert_string_equal(ks_file_trust_text(KS_FILE_NOT_OWNED),
			    "not owned by the trusted owner");
	assert_string_equal(ks_file_trust_text(KS_FILE_WRITABLE_BY_OTHERS),
			    "writable by group or others");
}

static void test_write_all(void **state)
{
	char *path = scratch_path(*state, "w");
	char buf[8];
	size_t len = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ks_write_all(fd, "abc", 3), 0);
	assert_int_equal(ks_write_all(fd, "", 0), 0);
	close(fd);
	assert_int_equal(ks_read_file_at(AT_FDCWD, path, 0, buf, sizeof(buf), true, &len), 0);
	assert_string_equal(buf, "abc");
	assert_int_equal(ks_write_all(-1, "x", 1), -EBADF);
	free(path);
}

static void test_parse_decimal(void **state)
{
	unsigned long long v = 7;

	(void)state;
	assert_int_equal(ks_parse_decimal("0", 1, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ks_parse_decimal("10", 2, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(ks_parse_decimal("11", 2, 10, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal("18446744073709551615", 20, ULLONG_MAX, &v), 0);
	assert_true(v == ULLONG_MAX);
	assert_int_equal(ks_parse_decimal("18446744073709551616", 20, ULLONG_MAX, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal("000000000000000000001", 21, ULLONG_MAX, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal("", 0, 10, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal("-1", 2, 10, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal(" 1", 2, 10, &v), -EINVAL);
	assert_int_equal(ks_parse_decimal("1x", 2, 10, &v), -EINVAL);
	/* Only len bytes count: the rest need not be digits or NUL. */
	assert_int_equal(ks_parse_decimal("42abc", 2, 100, &v), 0);
	assert_int_equal(v, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reads_whole_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_fit_is_not_too_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longer_file_refused_or_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_regular_files_open, setup, teardown),
		cmocka_unit_test(test_zero_size_buffer),
		cmocka_unit_test(test_trust),
		cmocka_unit_test_setup_teardown(test_write_all, setup, teardown),
		cmocka_unit_test(test_parse_decimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
