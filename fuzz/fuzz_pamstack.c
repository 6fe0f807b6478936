/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A pam.d tree may hold anything: any bytes as a service file (which also
 * includes itself and one other copy under another name) must resolve
 * within the bounds, with every line it yields well-formed.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_pamstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/ks-fuzz-pamstack-XXXXXX";

static void put(const char *name, const uint8_t *data, size_t size)
{
	char path[128];
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert(fd >= 0);
	assert(write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static void cleanup(void)
{
	char path[128];

	(void)snprintf(path, sizeof(path), "%s/svc", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/common-session", dir);
	(void)unlink(path);
	(void)rmdir(dir);
}

static void count_line(void *ctx, int priority, const char *message)
{
	(void)priority;
	assert(message && *message);
	(*(size_t *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct ks_pamstack stack;
	size_t lines = 0;
	const struct ks_log log = { .sink = count_line, .ctx = &lines };
	const struct ks_pam_line *keep, *sd;

	if (!ready) {
		assert(mkdtemp(dir));
		(void)atexit(cleanup);
		ready = true;
	}
	put("svc", data, size);
	put("common-session", data, size);
	if (ks_pamstack_resolve(dir, "svc", &stack, &log) < 0)
		return 0;
	assert(stack.n <= stack.parsed && stack.parsed <= KS_PAMSTACK_MAX_LINES);
	assert(stack.files >= 1 && stack.files <= KS_PAMSTACK_MAX_FILES);
	assert(lines >= stack.problems);
	for (size_t i = 0; i < stack.n; i++) {
		const struct ks_pam_line *l = &stack.lines[i];

		assert(l->file && l->module && l->control && l->top_file);
		assert(l->line >= 1 && l->top_line >= 1);
		assert(*l->module && *l->control);
		assert(!strchr(l->module, ' ') && !strchr(l->module, '\n'));
	}
	(void)ks_pamstack_placement(&stack, &keep, &sd);
	ks_pamstack_free(&stack);
	return 0;
}
