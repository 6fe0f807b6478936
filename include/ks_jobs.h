/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mover's job table: the jobs StartTransientUnit queued, and how each
 * ended (JobRemoved's result), for the mover alone. */
#ifndef KS_JOBS_H
#define KS_JOBS_H

#include <stddef.h>

#include "ks_log.h"
#include "ks_mover.h"

struct ks_job {
	char *unit;
	char *path;   /* the job's object path */
	char *result; /* JobRemoved's result, printable, or NULL */
	enum ks_job_state state;
};

struct ks_jobs {
	struct ks_job *v;
	size_t n;
};

/* Adds a pending job. Returns its index, or -E2BIG / -ENOMEM. */
int ks_jobs_add(struct ks_jobs *t, const char *unit, const char *path);
/* Adds a job that failed before systemd queued it (no path), result
 * saying why (printable already). Returns its index, or -E2BIG / -ENOMEM. */
int ks_jobs_add_failed(struct ks_jobs *t, const char *unit, const char *result);
/* JobRemoved(path, unit, result): ends the pending job it names, if any. */
void ks_jobs_removed(struct ks_jobs *t, const char *path, const char *unit, const char *result);
size_t ks_jobs_pending(const struct ks_jobs *t);
/* Ends every pending job in state; why (printable), when not NULL, is
 * their result. */
void ks_jobs_end_pending(struct ks_jobs *t, enum ks_job_state state, const char *why);
/* Counts the jobs that did not end done, saying each at debug level. */
int ks_jobs_not_done(const struct ks_jobs *t, const struct ks_log *log);
/* Job i, or NULL past the end. */
const struct ks_job *ks_jobs_get(const struct ks_jobs *t, size_t i);
void ks_jobs_clear(struct ks_jobs *t);

#endif
