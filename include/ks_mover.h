/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The mover: one transient scope per kept tree, asked of the systemd
 * manager over a bus the caller opened, and the jobs that start them. */
#ifndef KS_MOVER_H
#define KS_MOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "ks_log.h"

/*
 * The bus is the seam: production passes systemd's private socket (or the
 * system bus), tests a socketpair to a fake manager. Every call and every
 * wait is bounded by the mover's CLOCK_MONOTONIC deadline.
 */

/* First systemd versions that know what we would ask for. */
#define KS_SD_USER_UID_SLICE_STAYS 240 /* logind keeps user-UID.slice past the last logout */
#define KS_SD_SCOPE_RUNTIME_MAX 244
#define KS_SD_SCOPE_OOM_POLICY 253
#define KS_SD_SCOPE_PIDFDS 255

struct ks_scope_request {
	const char *unit; /* keepsession-....scope */
	const char *description;
	const char *slice;         /* NULL: the default for this manager and uid */
	uid_t uid;                 /* for the default slice */
	uint64_t runtime_max_usec; /* 0: no limit */
	const pid_t *pids;
	const int *pidfds; /* NULL, or n pidfds (-1 where none) */
	size_t n;
};

enum ks_job_state {
	KS_JOB_PENDING,
	KS_JOB_DONE,    /* systemd said "done": the scope runs */
	KS_JOB_FAILED,  /* any other result, or the call failed */
	KS_JOB_TIMEOUT, /* no answer before the deadline */
};

struct ks_mover;

/* Subscribes to JobRemoved and asks the manager's Version, without
 * waiting for the answers: ks_mover_ready() collects them, so that the
 * caller works while the manager sets the connection up. Logs nothing
 * when it fails: the caller says so in one line. */
int ks_mover_new(sd_bus *bus, uint64_t deadline, const struct ks_log *log, struct ks_mover **ret);
/* Waits for what ks_mover_new() asked, within the deadline. 0 or -errno. */
int ks_mover_ready(struct ks_mover *m);
/* Both. */
int ks_mover_open(sd_bus *bus, uint64_t deadline, const struct ks_log *log, struct ks_mover **ret);

/* Frees jobs and the match; does not close the bus. NULL is fine. */
void ks_mover_free(struct ks_mover *m);
static inline void ks_mover_freep(struct ks_mover **m)
{
	ks_mover_free(*m);
}

/* The manager's major version, 0 if unknown. */
unsigned ks_mover_version(const struct ks_mover *m);
uint64_t ks_mover_deadline(const struct ks_mover *m);
/* Calls and waits from now on are bounded by deadline instead. */
void ks_mover_set_deadline(struct ks_mover *m, uint64_t deadline);

/* The slice for a request: r->slice with %U expanded, or the default for
 * this manager: user-UID.slice (>= 240), user.slice before. */
int ks_mover_slice(const struct ks_mover *m, const struct ks_scope_request *r, char *buf,
		   size_t size);
/* The same for a manager of unknown version (user-UID.slice). */
int ks_default_slice(const struct ks_scope_request *r, char *buf, size_t size);

/* StartTransientUnit(unit, "fail", properties). Passes PIDFDs on managers
 * that take them, retrying once with PIDs when the manager rejects them.
 * Returns the job's index (>= 0). A start that fails (an invalid slice,
 * the call refused or unanswered, a reply that names no job) is a job
 * too, ended KS_JOB_FAILED, its result saying why (systemd's error name
 * and message, sanitized, and the unit): the caller logs it. Else -ESRCH
 * (the process is gone: the caller re-roots), -ENOMEM, -E2BIG (too many
 * jobs) or -EINVAL. Logs nothing but debug lines. */
int ks_mover_start(struct ks_mover *m, const struct ks_scope_request *r);
/* Would a request's runtime_max_usec (max_age) be left out: a manager
 * older than KS_SD_SCOPE_RUNTIME_MAX, or of unknown version? */
bool ks_mover_drops_max_age(const struct ks_mover *m);

/* Waits until every started job is removed or the deadline passes. A
 * connection lost or a wait that fails ends the pending jobs
 * KS_JOB_FAILED, their result saying so. Returns the number of jobs that
 * did not end KS_JOB_DONE. */
int ks_mover_wait(struct ks_mover *m);

/* A started job: its state, and JobRemoved's result (printable), NULL
 * before it or when there was none. A start that failed before systemd
 * queued a job has the path "". */
size_t ks_mover_n_jobs(const struct ks_mover *m);
enum ks_job_state ks_mover_job_state(const struct ks_mover *m, size_t job);
const char *ks_mover_job_result(const struct ks_mover *m, size_t job);
const char *ks_mover_job_unit(const struct ks_mover *m, size_t job);
const char *ks_mover_job_path(const struct ks_mover *m, size_t job);

/* Did the manager refuse PIDFDs (then PIDs are used)? */
bool ks_mover_pidfds_refused(const struct ks_mover *m);
/* On a bus, the manager's unique name, from its replies; else NULL. */
const char *ks_mover_manager_unique(const struct ks_mover *m);

/* AttachProcessesToUnit(unit, "", pids): the rest of a tree. systemd
 * checks every pid before moving any: when one has exited, nothing moved
 * and this returns -ESRCH, logged at debug level only. Another failure
 * is returned, and ks_mover_attach_error() says what it was; -EINVAL for
 * misuse. Logs nothing but debug lines. */
int ks_mover_attach(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n);

/* AttachProcessesToUnit calls in flight at once, at most. */
#define KS_MOVER_ATTACH_SLOTS 2

/* ks_mover_attach() in two halves, so that the caller works while PID 1
 * moves: sends the call without waiting and returns its slot (>= 0), or
 * -errno, as ks_mover_attach() (the deadline passed is -ETIMEDOUT);
 * -EINVAL and -EBUSY (every slot in flight) for misuse, with no text. */
int ks_mover_attach_send(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n);
/* Waits, within the deadline, for the answer of the call in slot and
 * frees the slot. Returns what ks_mover_attach() would have: 0, -ESRCH,
 * another -errno (ks_mover_attach_error() says it); -EINVAL, with no
 * text, for a slot with no call. Answers are taken in any order. */
int ks_mover_attach_receive(struct ks_mover *m, int slot);
/* What the last attach failure other than -ESRCH and misuse was, for
 * the caller's line (printable; the unit not named); "" before any. */
const char *ks_mover_attach_error(const struct ks_mover *m);

#endif
