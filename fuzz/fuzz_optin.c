/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ~/.keepsession is written by the user, read by the module in sshd: any
 * bytes must parse within bounds, yield only valid program entries, and
 * never put a byte of the file into a log line.
 */
#define _GNU_SOURCE /* memmem */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_optin.h"
#include "ks_program.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ORIGIN "/home/u/.keepsession"

/* The log lines ks_optin_parse() may write, with each number as '#'.
 * Anything else would be content of the file leaking into the log. */
static const char *const templates[] = {
	ORIGIN ": line # skipped: too long",
	ORIGIN ": line # skipped: not a base name or absolute path",
	ORIGIN ": # more lines skipped",
	ORIGIN ": more than # programs, # ignored",
	ORIGIN ": no valid program line (# skipped): nothing is kept",
};

struct sink {
	size_t lines;
};

static void check_line(void *ctx, int priority, const char *message)
{
	struct sink *s = ctx;
	char shape[512];
	size_t n = 0;
	bool known = false;

	(void)priority;
	for (const char *p = message; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			shape[n++] = '#';
		} else {
			shape[n++] = *p;
		}
		assert(n < sizeof(shape));
	}
	shape[n] = '\0';
	/* The origin has no digits of its own, so it survives the '#'s. */
	for (size_t i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		known = known || strcmp(shape, templates[i]) == 0;
	assert(known);
	s->lines++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_strlist programs = { 0 };
	struct sink sink = { 0 };
	const struct ks_log log = { .sink = check_line, .ctx = &sink, .debug = true };
	int r;

	if (size > KS_OPTIN_MAX_SIZE)
		return -1; /* ks_optin_read() refuses larger files */
	r = ks_optin_parse((const char *)data, size, &programs, ORIGIN, &log);
	assert(r >= 0 || r == -ENOMEM);
	/* No valid line at all: one line for the file, however long. */
	if (r > 0 && programs.n == 0)
		assert(sink.lines == 1);
	/* A hostile file costs a bounded number of log lines and entries. */
	assert(sink.lines <= 7);
	assert(programs.n <= 256);
	for (size_t i = 0; i < programs.n; i++) {
		const char *p = programs.v[i];
		size_t len = strlen(p);

		assert(ks_program_valid(p, len));
		/* Taken from the file as it is, and only once. */
		assert(memmem(data, size, p, len));
		for (size_t j = 0; j < i; j++)
			assert(strcmp(programs.v[j], p) != 0);
	}
	ks_strlist_clear(&programs);
	return 0;
}
