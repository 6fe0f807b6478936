/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_MOVER_H
#define KS_MOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include "ks_clock.h"
#include "ks_log.h"
#include "ks_strlist.h"

/*
 * The systemd mover: asks the system manager, over an sd_bus the caller
 * opened, to start one transient scope per kept tree and waits for the
 * jobs. The bus is the seam: production passes systemd's private socket
 * (or the system bus), tests a socketpair to a fake manager. Every call and
 * every wait is bounded by one CLOCK_MONOTONIC deadline; sd-bus's 25 s
 * default timeout is never used.
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

struct ks_job {
	char *unit;
	char *path;   /* the job's object path */
	char *result; /* JobRemoved's result string, or NULL */
	enum ks_job_state state;
};

struct ks_mover {
	sd_bus *bus;
	uint64_t deadline; /* CLOCK_MONOTONIC, usec */
	unsigned version;  /* manager's major version, 0 if unknown */
	const struct ks_log *log;
	sd_bus_slot *job_removed; /* subscribed before any call */
	struct ks_job *jobs;
	size_t n_jobs;
	bool pidfds_refused;  /* the manager rejected PIDFDs once: use PIDs */
	bool bus_client;      /* through a broker: signals are checked by sender */
	char *manager_unique; /* on a bus, the manager's unique name, from its replies */
};

/* Opens systemd's private socket (/run/systemd/private; root only, no
 * dbus-daemon needed), else the system bus. Nothing blocks here: the
 * connection completes within the first call's deadline. */
int ks_bus_open_manager(sd_bus **ret);
/* The system bus, for org.freedesktop.login1. */
int ks_bus_open_system(sd_bus **ret);

/* One method call within the deadline, the connection's authentication
 * included; never sd-bus's 25 s default. Returns what sd_bus_call()
 * returns, or -ETIMEDOUT past the deadline. */
int ks_bus_call(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, sd_bus_error *error,
		sd_bus_message **reply);

/* Parses the manager's Version property ("252.39-1~deb12u2",
 * "systemd 247 (247.3-7)", "v255-stable") to its major number. */
int ks_manager_version_parse(const char *s, unsigned *major);

/* Subscribes to JobRemoved, then reads the manager's Version. Logs
 * nothing when it fails: the caller says so in one line. */
int ks_mover_open(struct ks_mover *m, sd_bus *bus, uint64_t deadline, const struct ks_log *log);

/* The slice for a request: r->slice with %U expanded, or the default for
 * this manager: user-UID.slice (>= 240), user.slice before. */
int ks_mover_slice(const struct ks_mover *m, const struct ks_scope_request *r, char *buf,
		   size_t size);

/* StartTransientUnit(unit, "fail", properties). Passes PIDFDs on managers
 * that take them, retrying once with PIDs when the manager rejects them.
 * Returns the job's index in m->jobs (>= 0), or -errno (logged). */
int ks_mover_start(struct ks_mover *m, const struct ks_scope_request *r);

/* Waits until every started job is removed or the deadline passes.
 * Returns the number of jobs that did not end KS_JOB_DONE. */
int ks_mover_wait(struct ks_mover *m);

/* AttachProcessesToUnit(unit, "", pids): the rest of a tree. systemd
 * checks every pid before moving any: when one has exited, nothing moved
 * and this returns -ESRCH, logged at debug level only. Other failures are
 * logged. */
int ks_mover_attach(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n);

/* Frees jobs and the match; does not close the bus. */
void ks_mover_close(struct ks_mover *m);

/* logind's KillUserProcesses, KillOnlyUsers, KillExcludeUsers, read from
 * org.freedesktop.login1 within the deadline. */
int ks_logind_kill_settings(sd_bus *bus, uint64_t deadline, bool *kill_user_processes,
			    struct ks_strlist *kill_only_users,
			    struct ks_strlist *kill_exclude_users);

/*
 * Is the user stopped as a whole? logind's terminate-user queues a stop
 * job on user@UID.service (systemd 247, 252) or user-runtime-dir@UID.service
 * (257) together with the stop jobs of the session scopes, so while the
 * module's close and the stop guard run; an admin may stop user-UID.slice.
 * An ordinary last logout (even with UserStopDelaySec=0), an idle stop,
 * terminate-session and a dead sshd queue none then: logind stops the user
 * only once the session is finalized, after its scope is done. logind's
 * own User.State is "closing" in all of these alike. Wants= and After= on
 * user-runtime-dir@UID.service in kept scopes queue no job either.
 */

/* Is a stop job queued on unit (its Unit.Job, that job's JobType "stop")?
 * 1: yes; 0: no job, another job type, or no such unit loaded; -errno:
 * cannot tell. Within deadline. */
typedef int (*ks_unit_stopping_fn)(void *ctx, const char *unit, uint64_t deadline);

/* ks_unit_stopping_fn over the manager: ctx is the sd_bus *. */
int ks_unit_stopping(void *bus, const char *unit, uint64_t deadline);

/* Asks unit_stopping about user@UID.service, user-runtime-dir@UID.service
 * and user-UID.slice. Returns 1 with the unit that said stop in unit, 0,
 * or -errno when none said stop and one could not be read. */
int ks_user_stopping(ks_unit_stopping_fn unit_stopping, void *ctx, uid_t uid, uint64_t deadline,
		     char *unit, size_t size);

#endif
