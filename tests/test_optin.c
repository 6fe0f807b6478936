/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ks_optin.h"
#include "logcap.h"

#define NOT_A_NAME "not a base name or absolute path"

/* Put into user files: must never show up in a log line. */
#define SECRET "s3cr3t"

struct fixture {
	struct scratch_log s;
	struct ks_strlist programs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || scratch_log_setup(&f->s) < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ks_strlist_clear(&f->programs);
	scratch_log_teardown(&f->s);
	free(f);
	return 0;
}

static void relog(struct fixture *f)
{
	scratch_log_relog(&f->s);
}

static void assert_no_secret(const struct logcap *cap)
{
	assert_int_equal(logcap_count(cap, SECRET), 0);
}

static void assert_list(const struct ks_strlist *l, const char *const *want, size_t n)
{
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(l->v[i], want[i]);
}

#define ASSERT_LIST(l, ...)                                                                        \
	do {                                                                                       \
		static const char *const want_[] = { __VA_ARGS__ };                                \
		assert_list((l), want_, sizeof(want_) / sizeof(want_[0]));                         \
	} while (0)

static enum ks_optin_status read_file(struct fixture *f, const char *path, uid_t owner)
{
	return ks_optin_read(path, owner, &f->programs, &f->s.log);
}

static char *write_file(struct fixture *f, const char *name, const char *data, size_t len)
{
	char *path = scratch_write(f->s.dir, name, data, len, 0644);

	assert_non_null(path);
	return path;
}

/* A refused file: exactly one line, saying why and naming the file. */
static void assert_refused(struct fixture *f, const char *path, uid_t owner, const char *why)
{
	relog(f);
	(void)ks_strlist_add(&f->programs, "stale", 5);
	assert_int_equal(read_file(f, path, owner), KS_OPTIN_REFUSED);
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(f->s.cap.prio[0], LOG_WARNING);
	if (!strstr(f->s.cap.line[0], why) || !strstr(f->s.cap.line[0], path) ||
	    !strstr(f->s.cap.line[0], " ignored: "))
		fail_msg("expected \"%s\" about %s, got \"%s\"", why, path, f->s.cap.line[0]);
	assert_no_secret(&f->s.cap);
	relog(f);
}

/* ---- names ---- */

static void test_program_valid(void **state)
{
	static const char *const good[] = {
		"tmux",
		"mosh-server",
		"a",
		"...",
		".tmux",
		"tmux.bin",
		"/usr/bin/tmux",
		"/a",
		"/opt/x/.hidden/y",
		"t\xc3\xa9l\xc3\xa9",
		"#",
		"-",
	};
	static const char *const bad[] = {
		"",      ".",     "..",     "/",       "//",    "a/b",  "a/",
		"/usr/", "/a//b", "/a/./b", "/a/../b", "/..",   "/.",   "a b",
		"a\tb",  " tmux", "tmux ",  "a\x01",   "a\x7f", "a\nb", "a\rb",
	};
	char name[KS_PROGRAM_MAX + 2];
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!ks_program_valid(good[i], strlen(good[i])))
			fail_msg("\"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ks_program_valid(bad[i], strlen(bad[i])))
			fail_msg("\"%s\" accepted", bad[i]);
	/* len bounds the check: no NUL needed, a NUL inside is refused */
	assert_true(ks_program_valid("tmuxXYZ", 4));
	assert_false(ks_program_valid("tm\0ux", 5));

	memset(name, 'x', sizeof(name));
	assert_true(ks_program_valid(name, KS_PROGRAM_MAX));
	assert_false(ks_program_valid(name, KS_PROGRAM_MAX + 1));
	name[0] = '/';
	assert_true(ks_program_valid(name, KS_PROGRAM_MAX));
	assert_false(ks_program_valid(name, KS_PROGRAM_MAX + 1));
}

/* ---- parsing ---- */

static int parse(struct fixture *f, const char *text)
{
	return ks_optin_parse(text, strlen(text), &f->programs, "test", &f->s.log);
}

static void test_parse_lines(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(parse(f, "# my multiplexers\n"
				  "\n"
				  "  tmux  \n"
				  "\t/usr/local/bin/screen\r\n"
				  "   # indented comment\n"
				  "tmux\n"
				  "zellij\r\n"
				  "dtach"),
			 0);
	ASSERT_LIST(&f->programs, "tmux", "/usr/local/bin/screen", "zellij", "dtach");
	assert_int_equal(f->s.cap.n, 0);

	/* Empty and comment-only content: no program, no problem. */
	ks_strlist_clear(&f->programs);
	assert_int_equal(ks_optin_parse("", 0, &f->programs, "test", &f->s.log), 0);
	assert_int_equal(parse(f, "# just opting in\n\n"), 0);
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->s.cap.n, 0);
}

/* Bad lines are skipped and logged by number, never by content. */
static void test_parse_bad_lines(void **state)
{
	struct fixture *f = *state;
	char text[1024];
	int off;

	off = snprintf(text, sizeof(text),
		       "tmux\n" SECRET "/x\n"
		       "../" SECRET "\n" SECRET " two words\n" SECRET "\x1b[31m\n"
		       "%0256d\n"
		       "%0255d\n"
		       "screen\n",
		       1, 2);
	assert_true(off > 0 && (size_t)off < sizeof(text));
	assert_int_equal(parse(f, text), 5); /* the number of skipped lines */
	assert_int_equal(f->programs.n, 3);
	assert_string_equal(f->programs.v[0], "tmux");
	assert_int_equal(strlen(f->programs.v[1]), 255);
	assert_string_equal(f->programs.v[2], "screen");
	assert_int_equal(f->s.cap.n, 5);
	assert_string_equal(f->s.cap.line[0], "test: line 2 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[1], "test: line 3 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[2], "test: line 4 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[3], "test: line 5 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[4], "test: line 6 skipped: too long");
	for (unsigned i = 0; i < f->s.cap.n; i++)
		assert_int_equal(f->s.cap.prio[i], LOG_WARNING);
	assert_no_secret(&f->s.cap);
	relog(f);
}

/* A file full of garbage gets a few lines and a summary, not a flood. */
static void test_parse_log_bounded(void **state)
{
	struct fixture *f = *state;
	char text[5 + 20 * 4 + 1] = "tmux\n";

	for (int i = 0; i < 20; i++)
		strcat(text, "a/b\n");
	assert_int_equal(parse(f, text), 20);
	assert_int_equal(f->programs.n, 1);
	assert_int_equal(f->s.cap.n, 6);
	assert_string_equal(f->s.cap.line[0], "test: line 2 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[4], "test: line 6 skipped: " NOT_A_NAME);
	assert_string_equal(f->s.cap.line[5], "test: 15 more lines skipped");
	relog(f);
}

/* Lines meant as programs, none valid: one line for the whole file (its
 * caller then keeps nothing). */
static void test_parse_none_valid(void **state)
{
	struct fixture *f = *state;
	char text[20 * 4 + 1] = "";

	for (int i = 0; i < 20; i++)
		strcat(text, "a/b\n");
	assert_int_equal(parse(f, text), 20);
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->s.cap.n, 1);
	assert_int_equal(f->s.cap.prio[0], LOG_WARNING);
	assert_string_equal(f->s.cap.line[0],
			    "test: no valid program line (20 skipped): nothing is kept");
	relog(f);

	assert_int_equal(parse(f, "# mine\n" SECRET " x\n"), 1);
	assert_int_equal(f->s.cap.n, 1);
	assert_string_equal(f->s.cap.line[0],
			    "test: no valid program line (1 skipped): nothing is kept");
	assert_no_secret(&f->s.cap);
	relog(f);
}

static void test_parse_programs_bounded(void **state)
{
	struct fixture *f = *state;
	char *text = malloc(300 * 8 + 1);
	size_t len = 0;

	assert_non_null(text);
	for (int i = 0; i < 300; i++)
		len += (size_t)sprintf(text + len, "p%05d\n", i);
	assert_int_equal(ks_optin_parse(text, len, &f->programs, "test", &f->s.log), 0);
	assert_int_equal(f->programs.n, 256);
	assert_string_equal(f->programs.v[255], "p00255");
	assert_int_equal(f->s.cap.n, 1);
	assert_string_equal(f->s.cap.line[0], "test: more than 256 programs, 44 ignored");
	relog(f);
	free(text);
}

/* Binary garbage: no crash, no content in logs, only printable log lines. */
static void test_parse_binary_garbage(void **state)
{
	struct fixture *f = *state;
	size_t len = KS_OPTIN_MAX_SIZE;
	unsigned char *text = malloc(len);
	uint32_t x = 2463534242u;

	assert_non_null(text);
	for (int round = 0; round < 4; round++) {
		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* round 1 and 3: a newline-rich mix, so that lines are short */
			text[i] = (round & 1) && (x & 7) == 0 ? '\n' : (unsigned char)x;
		}
		relog(f);
		ks_strlist_clear(&f->programs);
		assert_true(ks_optin_parse((const char *)text, len, &f->programs, "test",
					   &f->s.log) >= 0);
		for (size_t i = 0; i < f->programs.n; i++)
			assert_true(ks_program_valid(f->programs.v[i], strlen(f->programs.v[i])));
		assert_true(f->s.cap.n <= 7);
		for (unsigned i = 0; i < f->s.cap.n; i++)
			for (const char *p = f->s.cap.line[i]; *p; p++)
				assert_true(*p >= 0x20 && *p < 0x7f);
	}
	relog(f);
	free(text);
}

/* ---- reading ---- */

static void test_read_ok(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "# keep these\ntmux\n/usr/bin/screen\n";
	char *path = write_file(f, "ok", text, sizeof(text) - 1);

	(void)ks_strlist_add(&f->programs, "stale", 5);
	assert_int_equal(read_file(f, path, getuid()), KS_OPTIN_OK);
	ASSERT_LIST(&f->programs, "tmux", "/usr/bin/screen");
	assert_int_equal(f->s.cap.n, 0);
	free(path);

	/* An empty file opts in without naming programs. */
	path = write_file(f, "empty", "", 0);
	assert_int_equal(read_file(f, path, getuid()), KS_OPTIN_OK);
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->s.cap.n, 0);
	free(path);
}

static void test_read_absent(void **state)
{
	struct fixture *f = *state;
	char *missing = scratch_path(f->s.dir, "missing");
	char *file = write_file(f, "plain", "tmux\n", 5);
	char *below_file = scratch_path(file, ".keepsession");

	(void)ks_strlist_add(&f->programs, "stale", 5);
	assert_int_equal(read_file(f, missing, getuid()), KS_OPTIN_ABSENT);
	assert_int_equal(f->programs.n, 0);
	/* a home that is not a directory: as good as no file */
	assert_int_equal(read_file(f, below_file, getuid()), KS_OPTIN_ABSENT);
	assert_int_equal(f->s.cap.n, 0);
	free(missing);
	free(file);
	free(below_file);
}

static void test_read_not_regular(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_refused(f, f->s.dir, getuid(), "not a regular file");
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_refused(f, "/dev/null", st.st_uid, "not a regular file");
}

static void test_read_fifo_does_not_block(void **state)
{
	struct fixture *f = *state;
	char *path = scratch_path(f->s.dir, "fifo");

	assert_int_equal(mkfifo(path, 0600), 0);
	hang_guard(10);
	assert_refused(f, path, getuid(), "not a regular file");
	alarm(0);
	free(path);
}

/* Owned by someone else (a uid that is not ours: works as root too). */
static void test_read_wrong_owner(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "owner", SECRET "\n", 7);

	assert_refused(f, path, getuid() + 1, "not owned by the user");
	free(path);
}

/* Like sshd's StrictModes: a file others may write is not the user's. */
static void test_read_writable_by_others(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "shared", "tmux\n", 5);
	char *link = scratch_path(f->s.dir, "link-to-shared");

	assert_int_equal(chmod(path, 0664), 0);
	assert_refused(f, path, getuid(), "writable by group or others");
	assert_int_equal(chmod(path, 0646), 0);
	assert_refused(f, path, getuid(), "writable by group or others");
	/* through a symlink: the file's mode counts */
	assert_int_equal(symlink(path, link), 0);
	assert_refused(f, link, getuid(), "writable by group or others");
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(read_file(f, link, getuid()), KS_OPTIN_OK);
	assert_int_equal(chmod(path, 0444), 0);
	assert_int_equal(read_file(f, path, getuid()), KS_OPTIN_OK);
	assert_int_equal(f->s.cap.n, 0);
	free(path);
	free(link);
}

/* Every program line invalid: its own status, nothing listed, one line. */
static void test_read_none_valid(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "# keep\n" SECRET "/x\n../" SECRET "\n";
	char *path = write_file(f, "garbage", text, sizeof(text) - 1);

	assert_int_equal(read_file(f, path, getuid()), KS_OPTIN_NONE_VALID);
	assert_int_equal(f->programs.n, 0);
	assert_int_equal(f->s.cap.n, 1);
	assert_non_null(strstr(f->s.cap.line[0], "no valid program line (2 skipped)"));
	assert_non_null(strstr(f->s.cap.line[0], path));
	assert_no_secret(&f->s.cap);
	relog(f);
	free(path);
}

static void test_read_symlinks(void **state)
{
	struct fixture *f = *state;
	char *target = write_file(f, "dotfiles-keepsession", "tmux\n", 5);
	char *link = scratch_path(f->s.dir, "link");
	char *loop = scratch_path(f->s.dir, "loop");

	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(read_file(f, link, getuid()), KS_OPTIN_OK);
	ASSERT_LIST(&f->programs, "tmux");
	assert_int_equal(f->s.cap.n, 0);

	assert_int_equal(symlink("loop", loop), 0);
	assert_refused(f, loop, getuid(), "cannot open");
	free(target);
	free(link);
	free(loop);
}

/* Comment lines up to size bytes, the last line a program. */
static char *filler(size_t size)
{
	char *text = malloc(size);

	assert_non_null(text);
	memset(text, '#', size);
	for (size_t i = 99; i < size; i += 100)
		text[i] = '\n';
	/* A sized buffer, no string: no NUL wanted. */
	memcpy(text + size - 6, "\ntmux\n", 6); /* NOLINT(bugprone-not-null-terminated-result) */
	return text;
}

static void test_read_size_limit(void **state)
{
	struct fixture *f = *state;
	char *text = filler(KS_OPTIN_MAX_SIZE + 1);
	char *exact = write_file(f, "exact", text + 1, KS_OPTIN_MAX_SIZE);
	char *over = write_file(f, "over", text, KS_OPTIN_MAX_SIZE + 1);

	assert_int_equal(read_file(f, exact, getuid()), KS_OPTIN_OK);
	ASSERT_LIST(&f->programs, "tmux");
	assert_int_equal(f->s.cap.n, 0);
	assert_refused(f, over, getuid(), "larger than 64 KiB");
	free(text);
	free(exact);
	free(over);
}

/*
 * A file that says it is small but reads longer than the cap: procfs
 * files have st_size 0. Many distinct mappings make /proc/self/smaps
 * far larger than 64 KiB, owned by us.
 */
static void test_read_grows_past_cap(void **state)
{
	struct fixture *f = *state;
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = 512;
	char *map = mmap(NULL, pages * (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct stat st;

	assert_true(map != MAP_FAILED);
	/* alternate protections so that the kernel cannot merge them */
	for (size_t i = 0; i < pages; i += 2)
		assert_int_equal(
			mprotect(map + i * (size_t)page, (size_t)page, PROT_READ | PROT_WRITE), 0);
	assert_int_equal(stat("/proc/self/smaps", &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 0);
	assert_refused(f, "/proc/self/smaps", st.st_uid, "grew past 64 KiB while read");
	assert_int_equal(munmap(map, pages * (size_t)page), 0);
}

/*
 * open() fails with EACCES: the file is refused with one line. Root reads
 * anything, so as root the read is done in a child that dropped to an
 * unprivileged uid, facing our 0700 scratch directory; as a user, in a
 * child too, facing a file of mode 0000. Both ways run everywhere.
 */
static void test_read_permission_denied(void **state)
{
	struct fixture *f = *state;
	char *path = write_file(f, "locked", SECRET "\n", 7);
	uid_t owner = getuid();
	pid_t pid;
	int status;

	assert_int_equal(chmod(path, 0), 0);
	assert_int_equal(chmod(f->s.dir, 0700), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int code = 0;

		/* No cmocka assertion here: the parent checks the exit code.
		 * Everything is freed first, so valgrind stays quiet. */
		relog(f);
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
			code = 2;
		else if (read_file(f, path, owner) != KS_OPTIN_REFUSED)
			code = 3;
		else if (f->s.cap.n != 1 || !strstr(f->s.cap.line[0], "ignored: cannot open: ") ||
			 !strstr(f->s.cap.line[0], strerror(EACCES)) ||
			 logcap_count(&f->s.cap, SECRET))
			code = 4;
		free(path);
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The child's free(path) ends in _exit(): no double free. cppcheck
	 * knows _exit() only with --library=posix, whose other checks are
	 * noise here (readdir_r, mmap of fd -1). */
	/* cppcheck-suppress doubleFree */
	free(path);
}

/* Content never reaches a log, whatever happens to the file. */
static void test_read_bad_content_not_logged(void **state)
{
	struct fixture *f = *state;
	static const char text[] = SECRET "/x\n" SECRET " y\n\0" SECRET "\ntmux\n";
	char *path = write_file(f, "bad", text, sizeof(text) - 1);

	assert_int_equal(read_file(f, path, getuid()), KS_OPTIN_OK);
	ASSERT_LIST(&f->programs, "tmux");
	assert_int_equal(f->s.cap.n, 3);
	assert_non_null(strstr(f->s.cap.line[2], "line 3 skipped"));
	assert_no_secret(&f->s.cap);
	relog(f);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_program_valid),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_parse_lines),
		T(test_parse_bad_lines),
		T(test_parse_log_bounded),
		T(test_parse_none_valid),
		T(test_parse_programs_bounded),
		T(test_parse_binary_garbage),
		T(test_read_ok),
		T(test_read_absent),
		T(test_read_not_regular),
		T(test_read_fifo_does_not_block),
		T(test_read_wrong_owner),
		T(test_read_writable_by_others),
		T(test_read_none_valid),
		T(test_read_symlinks),
		T(test_read_size_limit),
		T(test_read_grows_past_cap),
		T(test_read_permission_denied),
		T(test_read_bad_content_not_logged),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
