/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fakeproc.h"
#include "ks_cgroup.h"

#define USER_UID 1000
#define SESSION_CG "/user.slice/user-1000.slice/session-3.scope"

struct fx {
	struct fakeproc fp;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fakeproc_init(&fx->fp, SESSION_CG);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	fakeproc_remove(&fx->fp);
	free(fx);
	return 0;
}

static void assert_proc_cgroup(const struct fx *fx, const char *pid, enum ks_cgroup_mode mode,
			       const char *expected)
{
	char *path = NULL;

	assert_int_equal(ks_proc_cgroup(fx->fp.proc, pid, mode, &path), 0);
	assert_non_null(path);
	assert_string_equal(path, expected);
	free(path);
}

static void test_proc_cgroup(void **state)
{
	struct fx *fx = *state;
	char *path = NULL;
	char *big;

	write_proc_cgroup(&fx->fp, "10", "0::" SESSION_CG "\n");
	assert_proc_cgroup(fx, "10", KS_CGROUP_UNIFIED, SESSION_CG);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "10", KS_CGROUP_LEGACY, &path), -ENODATA);

	/* Hybrid host: both lines name the session. */
	write_proc_cgroup(&fx->fp, "11",
			  "12:pids:/user.slice/user-1000.slice/session-3.scope\n"
			  "4:cpu,cpuacct:/\n"
			  "1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n"
			  "0::/user.slice/user-1000.slice/session-3.scope\n");
	assert_proc_cgroup(fx, "11", KS_CGROUP_UNIFIED, SESSION_CG);
	assert_proc_cgroup(fx, "11", KS_CGROUP_LEGACY, SESSION_CG);

	/* systemd-nspawn, unified inside, on a hybrid host: the mode picks
	 * the line, whatever the other one says. */
	write_proc_cgroup(&fx->fp, "self",
			  "1:name=systemd:/machine.slice/machine-c1.scope/payload\n"
			  "0::/user.slice/user-1000.slice/session-5.scope\n");
	assert_proc_cgroup(fx, "self", KS_CGROUP_UNIFIED,
			   "/user.slice/user-1000.slice/session-5.scope");
	assert_proc_cgroup(fx, "self", KS_CGROUP_LEGACY, "/machine.slice/machine-c1.scope/payload");

	write_proc_cgroup(&fx->fp, "12", "3:cpu,name=systemd:/a:b/c\n1:name=systemdx:/no\n0::/a:b");
	assert_proc_cgroup(fx, "12", KS_CGROUP_LEGACY, "/a:b/c");
	assert_proc_cgroup(fx, "12", KS_CGROUP_UNIFIED, "/a:b");

	write_proc_cgroup(&fx->fp, "13", "0::/a\n0::/b\n");
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "13", KS_CGROUP_UNIFIED, &path), -EINVAL);
	write_proc_cgroup(&fx->fp, "14", "0::relative\n");
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "14", KS_CGROUP_UNIFIED, &path), -EINVAL);
	write_proc_cgroup(&fx->fp, "15", "0::\n");
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "15", KS_CGROUP_UNIFIED, &path), -EINVAL);
	write_proc_cgroup(&fx->fp, "16", "garbage\n\n::\n00::/x\n0:cpu:/y\n");
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "16", KS_CGROUP_UNIFIED, &path), -ENODATA);
	write_proc_cgroup(&fx->fp, "17", "");
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "17", KS_CGROUP_LEGACY, &path), -ENODATA);

	big = malloc(70 * 1024);
	assert_non_null(big);
	memset(big, 'x', 70 * 1024 - 1);
	big[70 * 1024 - 1] = '\0';
	memcpy(big, "0::/", 4);
	write_proc_cgroup(&fx->fp, "18", big);
	free(big);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "18", KS_CGROUP_UNIFIED, &path), -EINVAL);

	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "19", KS_CGROUP_UNIFIED, &path), -ESRCH);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "../10", KS_CGROUP_UNIFIED, &path), -EINVAL);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "", KS_CGROUP_UNIFIED, &path), -EINVAL);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "1/2", KS_CGROUP_UNIFIED, &path), -EINVAL);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "12345678901", KS_CGROUP_UNIFIED, &path),
			 -EINVAL);
	assert_int_equal(ks_proc_cgroup(fx->fp.proc, "10", (enum ks_cgroup_mode)7, &path), -EINVAL);
	assert_null(path);
}

/* The real /proc/self/cgroup has the kernel's format. */
static void test_proc_cgroup_real(void **state)
{
	char *path = NULL;
	int r;

	(void)state;
	r = ks_proc_cgroup("/proc", "self", KS_CGROUP_UNIFIED, &path);
	/* Every kernel with cgroup2 built in prints a "0::" line. */
	assert_int_equal(r, 0);
	assert_int_equal(path[0], '/');
	free(path);
}

static void test_cgroup_mode_detect(void **state)
{
	struct fx *fx = *state;
	enum ks_cgroup_mode mode = (enum ks_cgroup_mode) - 1;
	char root[PATH_MAX], dir[PATH_MAX];
	int r;

	/* Not a cgroup file system at all. */
	assert_int_equal(ks_cgroup_mode_detect(fx->fp.root, &mode, root, sizeof(root)), -ENOMEDIUM);
	fp_path_join(dir, sizeof(dir), "%s/systemd", fx->fp.root);
	fp_mkdir_p(dir);
	assert_int_equal(ks_cgroup_mode_detect(fx->fp.root, &mode, root, sizeof(root)), -ENOMEDIUM);
	assert_int_equal(ks_cgroup_mode_detect("/nonexistent-sysfs", &mode, root, sizeof(root)),
			 -ENOENT);

	/* Whatever this host mounts, the answer is one of the three. */
	r = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, root, sizeof(root));
	if (r == -ENOMEDIUM || r == -ENOENT) {
		print_message("no cgroup hierarchy at /sys/fs/cgroup: "
			      "real detection not checked\n");
		return;
	}
	assert_int_equal(r, 0);
	if (mode == KS_CGROUP_UNIFIED)
		assert_string_equal(root, "/sys/fs/cgroup");
	else
		assert_string_equal(root, "/sys/fs/cgroup/systemd");
	assert_int_equal(ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, root, strlen(root)),
			 -ENAMETOOLONG);
	assert_int_equal(ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, root, strlen(root) + 1), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_proc_cgroup),
		cmocka_unit_test(test_proc_cgroup_real),
		T(test_cgroup_mode_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
