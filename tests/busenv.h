/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For the bus, logind and mover tests: one fake manager (or logind), the
 * client bus to it, a mover on it and the lines it logged. */
#ifndef BUSENV_H
#define BUSENV_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_manager.h"
#include "ks_clock.h"
#include "ks_mover.h"

#define MSEC 1000ULL
#define SEC (1000 * MSEC)
/* Hang checks, not speed assertions: a deadline of SHORT must be honoured
 * within BOUND, however slow the machine (valgrind included). */
#define SHORT (200 * MSEC)
#define LONG (30 * SEC)
#define BOUND (5 * SEC)

#define MAX_LINES 64

struct capture {
	char lines[MAX_LINES][512];
	int prio[MAX_LINES];
	size_t n;
};

static inline void capture_sink(void *ctx, int priority, const char *message)
{
	struct capture *cap = ctx;

	if (cap->n >= MAX_LINES)
		return;
	cap->prio[cap->n] = priority;
	(void)snprintf(cap->lines[cap->n], sizeof(cap->lines[0]), "%s", message);
	cap->n++;
}

static inline const char *captured(const struct capture *cap, const char *needle)
{
	for (size_t i = 0; i < cap->n; i++)
		if (strstr(cap->lines[i], needle))
			return cap->lines[i];
	return NULL;
}

/* One fake manager, the client bus to it, a mover and its log. */
struct env {
	struct fake_manager fm;
	sd_bus *bus;
	struct ks_mover *m;
	struct capture cap;
	struct ks_log log;
};

static inline void env_start(struct env *e, const struct fake_script *script)
{
	memset(e, 0, sizeof(*e));
	e->log.sink = capture_sink;
	e->log.ctx = &e->cap;
	e->log.debug = true;
	assert_int_equal(fake_manager_start(&e->fm, script, &e->bus), 0);
	assert_non_null(e->bus);
}

static inline void env_open(struct env *e, const struct fake_script *script, uint64_t budget)
{
	env_start(e, script);
	assert_int_equal(ks_mover_open(e->bus, ks_now_usec() + budget, &e->log, &e->m), 0);
}

/* Closes everything but the record; asserts the fake served cleanly. */
static inline void env_stop(struct env *e)
{
	ks_mover_free(e->m);
	e->m = NULL;
	e->bus = sd_bus_close_unref(e->bus);
	if (fake_manager_stop(&e->fm) != 0)
		fail_msg("fake manager: %s", e->fm.rec->error);
}

static inline void env_free(struct env *e)
{
	fake_manager_free(&e->fm);
}

#endif
