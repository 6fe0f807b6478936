/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession.conf is the admin's, but a parser that crashes sshd on a
 * typo is still a lockout: any bytes must parse to a sane configuration.
 * The same bytes, NUL-terminated, go through the time span parser.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_config.h"
#include "ks_optin.h"
#include "ks_program.h"
#include "ks_unitname.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_lines(void *ctx, int priority, const char *message)
{
	(void)priority;
	assert(strlen(message) < 512);
	(*(size_t *)ctx)++;
}

static void check_config(const struct ks_config *c)
{
	assert(c->timeout_usec > 0 && c->timeout_usec <= KS_MAX_TIMEOUT_USEC);
	assert(c->when == KS_WHEN_KILL || c->when == KS_WHEN_ALWAYS);
	for (size_t i = 0; i < c->commands.n; i++)
		assert(ks_program_valid(c->commands.v[i], strlen(c->commands.v[i])));
	for (size_t i = 0; i < c->users.n; i++)
		assert(c->users.v[i][0] != '\0');
	for (size_t i = 0; i < c->deny.n; i++)
		assert(c->deny.v[i][0] != '\0');
	if (c->slice) {
		assert(strlen(c->slice) <= KS_UNIT_NAME_MAX);
		assert(!strchr(c->slice, '\\'));
	}
}

static void fuzz_timespan(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t usec = 42;
	int r;

	assert(s);
	memcpy(s, data, size);
	s[size] = '\0';
	r = ks_parse_timespan(s, &usec);
	assert(r == 0 || r == -EINVAL || r == -ERANGE);
	if (r < 0)
		assert(usec == 42); /* untouched on failure */
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ks_config c;
	size_t lines = 0;
	const struct ks_log log = { .sink = count_lines, .ctx = &lines, .debug = true };
	int r;

	if (size > KS_CONFIG_MAX_SIZE)
		return -1; /* ks_config_parse_file() refuses larger files */
	if (ks_config_init(&c) < 0)
		abort();
	r = ks_config_parse_text(&c, (const char *)data, size, "fuzz.conf", &log);
	assert(r >= 0 || r == -ENOMEM);
	if (r >= 0) {
		/* Every problem is logged, and nothing but problems is. */
		assert((size_t)r == lines);
		check_config(&c);
	}
	ks_config_free(&c);

	fuzz_timespan(data, size);
	return 0;
}
