/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The jobs one close queued: a session has a handful of trees, so a table
 * searched linearly; anything near MAX_JOBS is hostile. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ks_bus.h"
#include "ks_jobs.h"

#define MAX_JOBS 4096
#define MAX_RESULT 64

int ks_jobs_add(struct ks_jobs *t, const char *unit, const char *path)
{
	struct ks_job *v, *j;

	if (t->n >= MAX_JOBS)
		return -E2BIG;
	v = realloc(t->v, (t->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->v = v;
	j = &v[t->n];
	*j = (struct ks_job){ .unit = strdup(unit), .path = strdup(path), .state = KS_JOB_PENDING };
	if (!j->unit || !j->path) {
		free(j->unit);
		free(j->path);
		return -ENOMEM;
	}
	return (int)t->n++;
}

int ks_jobs_add_failed(struct ks_jobs *t, const char *unit, const char *result)
{
	int i = ks_jobs_add(t, unit, "");
	struct ks_job *j;

	if (i < 0)
		return i;
	j = &t->v[i];
	j->result = strdup(result);
	j->state = KS_JOB_FAILED;
	/* Without its text, it still failed: job_outcome says "failed". */
	return i;
}

void ks_jobs_removed(struct ks_jobs *t, const char *path, const char *unit, const char *result)
{
	char text[MAX_RESULT];

	for (size_t i = 0; i < t->n; i++) {
		struct ks_job *j = &t->v[i];

		if (j->state != KS_JOB_PENDING || strcmp(j->path, path) != 0 ||
		    strcmp(j->unit, unit) != 0)
			continue;
		/* Stored printable: callers put it in log lines. */
		j->result = strdup(ks_bus_text(result, text, sizeof(text)));
		j->state = strcmp(result, "done") == 0 ? KS_JOB_DONE : KS_JOB_FAILED;
		return;
	}
}

size_t ks_jobs_pending(const struct ks_jobs *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].state == KS_JOB_PENDING)
			n++;
	return n;
}

void ks_jobs_end_pending(struct ks_jobs *t, enum ks_job_state state, const char *why)
{
	for (size_t i = 0; i < t->n; i++) {
		struct ks_job *j = &t->v[i];

		if (j->state != KS_JOB_PENDING)
			continue;
		j->state = state;
		if (why && !j->result)
			j->result = strdup(why);
	}
}

int ks_jobs_not_done(const struct ks_jobs *t, const struct ks_log *log)
{
	int not_done = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct ks_job *j = &t->v[i];

		if (j->state == KS_JOB_DONE)
			continue;
		not_done++;
		/* The caller says what it means for its session; this is
		 * the detail. */
		if (j->state == KS_JOB_TIMEOUT)
			ks_log(log, LOG_DEBUG, "%s: no answer from systemd in time", j->unit);
		else
			ks_log(log, LOG_DEBUG, "%s: job %s", j->unit,
			       j->result ? j->result : "failed");
	}
	return not_done;
}

const struct ks_job *ks_jobs_get(const struct ks_jobs *t, size_t i)
{
	return i < t->n ? &t->v[i] : NULL;
}

void ks_jobs_clear(struct ks_jobs *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].unit);
		free(t->v[i].path);
		free(t->v[i].result);
	}
	free(t->v);
	*t = (struct ks_jobs){ 0 };
}
