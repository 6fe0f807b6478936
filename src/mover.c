/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Jobs: StartTransientUnit per kept tree, JobRemoved to learn how each
 * ended, AttachProcessesToUnit for the rest of a tree. The match on
 * JobRemoved goes in before any call, so that no job can end unseen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_bus.h"
#include "ks_cleanup.h"
#include "ks_jobs.h"
#include "ks_manager.h"
#include "ks_mover.h"
#include "ks_scopemsg.h"
#include "ks_unitname.h"

/* A job path longer than this is hostile. */
#define MAX_JOB_PATH 1024

struct ks_mover {
	sd_bus *bus;
	uint64_t deadline; /* CLOCK_MONOTONIC, usec */
	unsigned version;  /* manager's major version, 0 if unknown */
	const struct ks_log *log;
	sd_bus_slot *job_removed; /* subscribed before any call */
	struct ks_jobs jobs;
	bool pidfds_refused; /* the manager rejected PIDFDs once: use PIDs */
	struct ks_manager manager;
	/* AttachProcessesToUnit calls in flight, and their units for the
	 * debug line of a process gone. */
	struct ks_bus_pending attach[KS_MOVER_ATTACH_SLOTS];
	bool attach_busy[KS_MOVER_ATTACH_SLOTS];
	char attach_unit[KS_MOVER_ATTACH_SLOTS][KS_UNIT_NAME_MAX + 1];
	char attach_why[KS_BUS_ERROR_TEXT_MAX]; /* the last attach failure */
};

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	struct ks_mover *m = userdata;
	const char *path, *unit, *result;
	uint32_t id;

	(void)ret_error;
	if (!ks_manager_sent(&m->manager, msg))
		return 0;
	/* A malformed signal is ignored, not trusted. */
	if (sd_bus_message_read(msg, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	ks_jobs_removed(&m->jobs, path, unit, result);
	return 0;
}

static struct ks_mover *mover_alloc(sd_bus *bus, uint64_t deadline, const struct ks_log *log)
{
	struct ks_mover *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->bus = bus;
	m->deadline = deadline;
	m->log = log;
	ks_manager_init(&m->manager, bus);
	for (size_t i = 0; i < KS_MOVER_ATTACH_SLOTS; i++)
		ks_bus_pending_init(&m->attach[i], 0);
	return m;
}

int ks_mover_new(sd_bus *bus, uint64_t deadline, const struct ks_log *log, struct ks_mover **ret)
{
	_cleanup_(ks_mover_freep) struct ks_mover *m = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	if (!bus)
		return -EINVAL;
	/* Failures here are the caller's to log, in one line. */
	if (ks_now_usec() >= deadline)
		return -ETIMEDOUT;
	m = mover_alloc(bus, deadline, log);
	if (!m)
		return -ENOMEM;
	/* The match goes in before any call so that no JobRemoved can slip
	 * past; asynchronously, as a synchronous AddMatch would use sd-bus's
	 * default timeout. */
	r = sd_bus_match_signal_async(
		bus, &m->job_removed, m->manager.bus_client ? KS_MANAGER_SERVICE : NULL,
		KS_MANAGER_PATH, KS_MANAGER_IFACE, "JobRemoved", on_job_removed, NULL, m);
	if (r < 0)
		return r;
	r = ks_manager_setup_send(&m->manager, deadline);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

int ks_mover_ready(struct ks_mover *m)
{
	int r = ks_manager_setup_receive(&m->manager, m->deadline, m->log);

	m->version = m->manager.version;
	return r;
}

int ks_mover_open(sd_bus *bus, uint64_t deadline, const struct ks_log *log, struct ks_mover **ret)
{
	_cleanup_(ks_mover_freep) struct ks_mover *m = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	*ret = NULL;
	r = ks_mover_new(bus, deadline, log, &m);
	if (r >= 0)
		r = ks_mover_ready(m);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(m);
	return 0;
}

/* Returns the length written, or -EINVAL / -ENAMETOOLONG: the rule is
 * ks_slice_expand()'s, the one config checks the admin's slice with. */
int ks_mover_slice(const struct ks_mover *m, const struct ks_scope_request *r, char *buf,
		   size_t size)
{
	const char *src;

	if (!m || !r)
		return -EINVAL;
	src = r->slice;
	if (!src) {
		/* Before 240, logind removed user-UID.slice at the last
		 * logout, taking a kept tree with it. Unknown (0) versions
		 * get user-UID.slice: anything older than 240 is from 2018. */
		if (m->version != 0 && m->version < KS_SD_USER_UID_SLICE_STAYS)
			src = "user.slice";
		else
			src = "user-%U.slice";
	}
	return ks_slice_expand(src, r->uid, buf, size);
}

/* Before 240 (2018), logind removed user-UID.slice at the last logout:
 * a mover that never asked answers like one of an unknown version. */
int ks_default_slice(const struct ks_scope_request *r, char *buf, size_t size)
{
	static const struct ks_mover unknown = { .version = 0 };

	return ks_mover_slice(&unknown, r, buf, size);
}

static bool wants_pidfds(const struct ks_mover *m, const struct ks_scope_request *r)
{
	if (!r->pidfds || m->pidfds_refused || m->version < KS_SD_SCOPE_PIDFDS)
		return false;
	for (size_t i = 0; i < r->n; i++)
		if (r->pidfds[i] >= 0)
			/* Only now: sd_bus_can_send() would block on a
			 * connection that is not up yet; ours is. */
			return sd_bus_can_send(m->bus, 'h') > 0;
	return false;
}

/* A manager that does not know PIDFDs refuses them in one of these ways;
 * its refusal created nothing, so the same name is free for a retry. */
static bool pidfds_refused(sd_bus *bus, const sd_bus_error *error, int q)
{
	return !ks_bus_call_lost(bus, q) &&
	       sd_bus_error_has_names(error, SD_BUS_ERROR_PROPERTY_READ_ONLY,
				      SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_UNKNOWN_PROPERTY,
				      SD_BUS_ERROR_NOT_SUPPORTED);
}

/* StartTransientUnit, with PIDFDs where the manager takes them and once
 * more with PIDs where it refuses them. On failure, why says what went
 * wrong, but for -ESRCH (the process is gone) and -ENOMEM. */
static int call_start(struct ks_mover *m, const struct ks_scope_request *r, const char *slice,
		      sd_bus_message **reply, char *why, size_t size)
{
	bool use_pidfds = wants_pidfds(m, r);

	for (;;) {
		_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
		_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
		char text[KS_BUS_TEXT_MAX];
		int q;

		q = ks_scope_message_start(m->bus, m->version, r, slice, use_pidfds, &msg);
		if (q < 0) {
			(void)snprintf(why, size, "cannot build StartTransientUnit(%s): %s",
				       r->unit, strerror(-q));
			return q;
		}
		q = ks_bus_call(m->bus, m->deadline, msg, &error, reply);
		if (q >= 0)
			return 0;
		if (!ks_bus_call_lost(m->bus, q) && ks_bus_process_gone(&error, q)) {
			/* The process exited since its check: the caller
			 * re-roots its tree, nothing to say here. */
			ks_log(m->log, LOG_DEBUG, "StartTransientUnit(%s): the process is gone",
			       r->unit);
			return -ESRCH;
		}
		if (!use_pidfds || !pidfds_refused(m->bus, &error, q)) {
			(void)ks_bus_call_error_text("StartTransientUnit", r->unit, &error, q, why,
						     size);
			return q;
		}
		ks_log(m->log, LOG_DEBUG, "manager refused PIDFDs (%s); using PIDs",
		       ks_bus_text(error.name, text, sizeof(text)));
		m->pidfds_refused = true;
		use_pidfds = false;
	}
}

/* The job StartTransientUnit queued, from its reply: its index, or
 * -ENOMEM, -E2BIG, or -EBADMSG with why saying what was wrong. */
static int track_job(struct ks_mover *m, const char *unit, sd_bus_message *reply, char *why,
		     size_t size)
{
	const char *path;
	int q;

	q = ks_manager_note(&m->manager, reply);
	if (q < 0)
		return q;
	if (sd_bus_message_read(reply, "o", &path) <= 0) {
		char text[KS_BUS_TEXT_MAX];

		(void)snprintf(
			why, size, "StartTransientUnit(%s): unexpected reply signature \"%s\"",
			unit,
			ks_bus_text(sd_bus_message_get_signature(reply, 1), text, sizeof(text)));
		return -EBADMSG;
	}
	if (strlen(path) > MAX_JOB_PATH) {
		(void)snprintf(why, size, "StartTransientUnit(%s): job path too long", unit);
		return -EBADMSG;
	}
	/* -E2BIG or -ENOMEM: the caller's line names the unit. */
	return ks_jobs_add(&m->jobs, unit, path);
}

int ks_mover_start(struct ks_mover *m, const struct ks_scope_request *r)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	char slice[256], why[KS_BUS_ERROR_TEXT_MAX] = "";
	int q;

	if (!m || !m->bus || !r || !r->unit || !r->pids || r->n == 0)
		return -EINVAL;

	q = ks_mover_slice(m, r, slice, sizeof(slice));
	if (q < 0) {
		char text[KS_BUS_TEXT_MAX];

		(void)snprintf(why, sizeof(why), "invalid slice \"%s\" for %s",
			       ks_bus_text(r->slice ? r->slice : "", text, sizeof(text)), r->unit);
	} else {
		q = call_start(m, r, slice, &reply, why, sizeof(why));
		if (q >= 0)
			q = track_job(m, r->unit, reply, why, sizeof(why));
	}
	if (q >= 0 || q == -ESRCH || q == -ENOMEM || !why[0])
		return q;
	/* A failed job, why its result: the caller says it with the others. */
	return ks_jobs_add_failed(&m->jobs, r->unit, why);
}

bool ks_mover_drops_max_age(const struct ks_mover *m)
{
	return m->version < KS_SD_SCOPE_RUNTIME_MAX;
}

/* Ends the pending jobs failed, "what: strerror(err)" their result. */
static void fail_pending(struct ks_mover *m, const char *what, int err)
{
	char why[128];

	(void)snprintf(why, sizeof(why), "%s: %s", what, strerror(err));
	ks_jobs_end_pending(&m->jobs, KS_JOB_FAILED, why);
}

/* Processes the bus until no job is pending or the deadline passes. */
static void wait_jobs(struct ks_mover *m)
{
	while (m->bus && ks_jobs_pending(&m->jobs) > 0) {
		uint64_t now;
		int r;

		/* Process before looking at the clock, so that a JobRemoved
		 * already received is not mistaken for a timeout; every
		 * round still checks the deadline, however busy the bus. */
		r = sd_bus_process(m->bus, NULL);
		if (ks_jobs_pending(&m->jobs) == 0)
			return;
		if (r < 0 || (r == 0 && sd_bus_is_open(m->bus) <= 0)) {
			fail_pending(m, "lost the connection to the systemd manager",
				     r < 0 ? -r : ENOTCONN);
			return;
		}
		now = ks_now_usec();
		if (now >= m->deadline) {
			ks_jobs_end_pending(&m->jobs, KS_JOB_TIMEOUT, NULL);
			return;
		}
		if (r > 0)
			continue;
		r = sd_bus_wait(m->bus, m->deadline - now);
		if (r < 0) {
			fail_pending(m, "waiting for systemd jobs", -r);
			return;
		}
	}
}

int ks_mover_wait(struct ks_mover *m)
{
	if (!m)
		return -EINVAL;
	wait_jobs(m);
	/* No bus: nothing can still answer. */
	ks_jobs_end_pending(&m->jobs, KS_JOB_FAILED, NULL);
	return ks_jobs_not_done(&m->jobs, m->log);
}

/* The AttachProcessesToUnit message; a failure is noted. */
static int attach_message(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n,
			  sd_bus_message **msg)
{
	int r = ks_scope_message_attach(m->bus, unit, pids, n, msg);

	if (r < 0)
		(void)snprintf(m->attach_why, sizeof(m->attach_why),
			       "cannot build AttachProcessesToUnit: %s", strerror(-r));
	return r;
}

/* What an attach's answer (r, error) says: 0, -ESRCH at debug level, or
 * another -errno, noted for ks_mover_attach_error(). */
static int attach_answer(struct ks_mover *m, const char *unit, const sd_bus_error *error, int r)
{
	if (r < 0 && ks_bus_process_gone(error, r)) {
		/* A process that exited meanwhile: expected at logout, and
		 * the caller retries without it. */
		ks_log(m->log, LOG_DEBUG, "AttachProcessesToUnit(%s): a process is gone", unit);
		return -ESRCH;
	}
	if (r < 0) {
		/* The caller's line names the unit. */
		(void)ks_bus_call_error_text("AttachProcessesToUnit", NULL, error, r, m->attach_why,
					     sizeof(m->attach_why));
		return r;
	}
	return 0;
}

int ks_mover_attach(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n)
{
	_cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL, *reply = NULL;
	int r;

	if (!m || !m->bus || !unit || (!pids && n > 0))
		return -EINVAL;
	if (n == 0)
		return 0;
	r = attach_message(m, unit, pids, n, &msg);
	if (r < 0)
		return r;
	r = ks_bus_call(m->bus, m->deadline, msg, &error, &reply);
	return attach_answer(m, unit, &error, r);
}

int ks_mover_attach_send(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
	size_t slot = 0;
	int r;

	if (!m || !m->bus || !unit || !pids || n == 0 || strlen(unit) > KS_UNIT_NAME_MAX)
		return -EINVAL;
	while (slot < KS_MOVER_ATTACH_SLOTS && m->attach_busy[slot])
		slot++;
	if (slot == KS_MOVER_ATTACH_SLOTS)
		return -EBUSY;
	r = attach_message(m, unit, pids, n, &msg);
	if (r < 0)
		return r;
	r = ks_bus_send(m->bus, m->deadline, msg, &m->attach[slot]);
	if (r < 0) {
		ks_bus_pending_clear(&m->attach[slot]);
		(void)ks_bus_call_error_text("AttachProcessesToUnit", NULL, NULL, r, m->attach_why,
					     sizeof(m->attach_why));
		return r;
	}
	m->attach_busy[slot] = true;
	memcpy(m->attach_unit[slot], unit, strlen(unit) + 1);
	return (int)slot;
}

int ks_mover_attach_receive(struct ks_mover *m, int slot)
{
	struct ks_bus_pending *p;
	int r;

	if (!m || slot < 0 || slot >= KS_MOVER_ATTACH_SLOTS || !m->attach_busy[slot])
		return -EINVAL;
	p = &m->attach[slot];
	/* A connection that failed fails p too: its answer is in p->r. */
	(void)ks_bus_collect(m->bus, m->deadline, p, 1);
	r = attach_answer(m, m->attach_unit[slot], &p->error, p->r);
	ks_bus_pending_clear(p);
	ks_bus_pending_init(p, 0);
	m->attach_busy[slot] = false;
	return r;
}

void ks_mover_free(struct ks_mover *m)
{
	if (!m)
		return;
	ks_manager_clear(&m->manager);
	for (size_t i = 0; i < KS_MOVER_ATTACH_SLOTS; i++)
		ks_bus_pending_clear(&m->attach[i]);
	sd_bus_slot_unref(m->job_removed);
	ks_jobs_clear(&m->jobs);
	free(m);
}

unsigned ks_mover_version(const struct ks_mover *m)
{
	return m->version;
}

uint64_t ks_mover_deadline(const struct ks_mover *m)
{
	return m->deadline;
}

void ks_mover_set_deadline(struct ks_mover *m, uint64_t deadline)
{
	m->deadline = deadline;
}

size_t ks_mover_n_jobs(const struct ks_mover *m)
{
	return m->jobs.n;
}

enum ks_job_state ks_mover_job_state(const struct ks_mover *m, size_t job)
{
	const struct ks_job *j = ks_jobs_get(&m->jobs, job);

	return j ? j->state : KS_JOB_FAILED;
}

const char *ks_mover_job_result(const struct ks_mover *m, size_t job)
{
	const struct ks_job *j = ks_jobs_get(&m->jobs, job);

	return j ? j->result : NULL;
}

const char *ks_mover_job_unit(const struct ks_mover *m, size_t job)
{
	const struct ks_job *j = ks_jobs_get(&m->jobs, job);

	return j ? j->unit : NULL;
}

const char *ks_mover_job_path(const struct ks_mover *m, size_t job)
{
	const struct ks_job *j = ks_jobs_get(&m->jobs, job);

	return j ? j->path : NULL;
}

const char *ks_mover_attach_error(const struct ks_mover *m)
{
	return m->attach_why;
}

bool ks_mover_pidfds_refused(const struct ks_mover *m)
{
	return m->pidfds_refused;
}

const char *ks_mover_manager_unique(const struct ks_mover *m)
{
	return m->manager.unique;
}
