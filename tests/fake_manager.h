/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef FAKE_MANAGER_H
#define FAKE_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

/*
 * A scripted stand-in for systemd's manager (and logind's Manager object),
 * for tests: a forked child serves one end of a socketpair with sd-bus, the
 * test gets an sd_bus on the other end. The child answers as the script
 * says and records what it received in shared memory that the test reads.
 *
 * Use: fake_manager_start(), talk to the returned bus, sd_bus_close_unref()
 * it (the child exits on EOF), fake_manager_stop() (waits for the child),
 * read fm.rec, fake_manager_free().
 */

#define FAKE_MAX_CALLS 24
#define FAKE_MAX_PROPS 16
#define FAKE_MAX_PIDS 32
#define FAKE_MAX_STEPS 8
#define FAKE_STR 256

/* What the child does with Get(org.freedesktop.systemd1.Manager, Version). */
enum fake_version {
	FAKE_VERSION_STRING,     /* v(s) script.version */
	FAKE_VERSION_ERROR,      /* org.freedesktop.DBus.Error.AccessDenied */
	FAKE_VERSION_WRONG_TYPE, /* v(u) 252 */
	FAKE_VERSION_HANG,       /* no answer */
	FAKE_VERSION_DISCONNECT, /* closes the connection, no answer */
};

/* What the child does with the nth StartTransientUnit. */
enum fake_start {
	FAKE_START_OK,                     /* job path, then JobRemoved(result) */
	FAKE_START_ERROR,                  /* error reply error_name/error_message */
	FAKE_START_HANG,                   /* no answer */
	FAKE_START_NO_SIGNAL,              /* job path, never JobRemoved */
	FAKE_START_WRONG_SIGNATURE,        /* "s" instead of "o" */
	FAKE_START_DISCONNECT,             /* closes the connection, no answer */
	FAKE_START_DISCONNECT_AFTER_REPLY, /* job path, then closes */
	FAKE_START_SIGNAL_THEN_DISCONNECT, /* job path, JobRemoved, then closes */
};

struct fake_start_step {
	enum fake_start action;
	const char *result;     /* JobRemoved's result; NULL: "done" */
	const char *error_name; /* FAKE_START_ERROR */
	const char *error_message;
};

enum fake_logind {
	FAKE_LOGIND_OK,
	FAKE_LOGIND_WRONG_TYPE, /* the property named by logind_bad answers v(s) */
	FAKE_LOGIND_ERROR,      /* ... answers AccessDenied */
	FAKE_LOGIND_HANG,       /* ... never answers */
	FAKE_LOGIND_DISCONNECT, /* ... closes the connection, no answer */
};

/* A unit ListUnitsByPatterns answers with, and whose Unit/Scope
 * properties Get answers (object path /org/freedesktop/systemd1/unit/N). */
struct fake_unit {
	const char *name;
	const char *description;
	const char *cgroup;
	uint64_t since_usec;       /* ActiveEnterTimestamp */
	uint64_t runtime_max_usec; /* RuntimeMaxUSec */
};

/* A unit GetUnit finds (object path /org/freedesktop/systemd1/loaded/N),
 * with the job queued on it: Unit.Job and that job's Job.JobType answer,
 * and ListJobs lists it. */
struct fake_loaded_unit {
	const char *name;
	const char *job_type; /* "stop", "start"...; NULL: no job */
};

struct fake_script {
	/* Pretend to be a bus broker: answer Hello and AddMatch, and send
	 * signals from a unique name, so the client can be a bus client. */
	bool broker;
	bool broker_hang_hello; /* never answer Hello (nor anything else) */
	bool no_auth;           /* never speak at all: not even SASL */
	/* The manager is not on this bus (dbus restarted, PID 1 not back
	 * yet): as dbus-daemon, the broker holds every call to
	 * org.freedesktop.systemd1 that may auto-start it, and answers the
	 * others NameHasNoOwner, from org.freedesktop.DBus. */
	bool broker_no_manager;

	enum fake_version version_mode;
	const char *version;

	/* Any StartTransientUnit carrying PIDFDs gets this error (does not
	 * consume a step). NULL: PIDFDs accepted. */
	const char *refuse_pidfds_error;

	struct fake_start_step steps[FAKE_MAX_STEPS];
	size_t n_steps; /* starts beyond this: FAKE_START_OK */

	/* Hold every JobRemoved until this many starts were answered, then
	 * send them in signal_order (indexes of starts). 0: send at once. */
	size_t hold_signals_until;
	size_t signal_order[FAKE_MAX_STEPS];
	/* Before the held signals: JobRemoved for a job nobody started, and
	 * one naming the first job's path but another unit. */
	bool foreign_signals;

	enum fake_version attach_mode; /* STRING: answer; ERROR; HANG */
	/* As systemd does for a process that exited: an attach naming this
	 * pid is refused whole with attach_gone_error (NULL:
	 * org.freedesktop.systemd1.NoSuchProcess). 0: none. */
	uint32_t attach_gone_pid;
	const char *attach_gone_error;

	/* Kill this pid (and remove attach_kill_dir, its fake /proc entry)
	 * when an attach first names it, and refuse that attach as systemd
	 * does for a process gone. 0: none. */
	uint32_t attach_kill_pid;
	const char *attach_kill_dir;

	/* Kill this pid (and remove start_kill_dir) when a start first names
	 * it, before answering: the process exits as systemd takes it. */
	uint32_t start_kill_pid;
	const char *start_kill_dir;

	/* Before each JobRemoved, a forged one with this result from
	 * another unique name (broker only). NULL: none. */
	const char *forged_sender;
	/* Sleep this long before answering each StartTransientUnit. */
	uint64_t start_delay_usec;
	/* More than FAKE_MAX_CALLS calls are expected: only counted. */
	bool many_calls;

	enum fake_logind logind_mode;
	const char *logind_bad; /* property name for WRONG_TYPE/ERROR */
	bool kill_user_processes;
	const char *const *kill_only_users;    /* NULL-terminated, or NULL */
	const char *const *kill_exclude_users; /* NULL-terminated, or NULL */

	/* ListUnitsByPatterns answers these, whatever the patterns (the
	 * client must filter); StopUnit answers a job, or this error. */
	const struct fake_unit *units;
	size_t n_units;
	const char *stop_error;

	/* GetUnit finds these (others: NoSuchUnit, as for a unit not
	 * loaded), ListJobs lists their jobs; both answer get_unit_error
	 * instead when set. */
	const struct fake_loaded_unit *loaded;
	size_t n_loaded;
	const char *get_unit_error;
};

struct fake_property {
	char name[64];
	char signature[16];
	char value[FAKE_STR];         /* s, t, b, u rendered as text */
	uint32_t pids[FAKE_MAX_PIDS]; /* au; for ah the PID behind each fd */
	size_t n_pids;
};

struct fake_call {
	char member[64];
	char interface[128];
	char path[128];
	char destination[128];
	char arg0[FAKE_STR]; /* unit (also GetUnit); Get: interface; AddMatch: rule;
			      * ListUnitsByPatterns: pattern
			      */
	char arg1[FAKE_STR]; /* mode; subcgroup; Get: property; ListUnitsByPatterns: states */
	struct fake_property props[FAKE_MAX_PROPS];
	size_t n_props;
	size_t n_aux;
	uint32_t pids[FAKE_MAX_PIDS]; /* AttachProcessesToUnit */
	size_t n_pids;
	char job[128]; /* the job path the child answered with */
};

struct fake_record {
	struct fake_call calls[FAKE_MAX_CALLS];
	size_t n_calls;
	/* Every call, recorded or not. */
	size_t n_all_calls, n_start_calls, n_attach_calls;
	char error[FAKE_STR]; /* first thing the child could not parse */
};

struct fake_manager {
	pid_t pid;
	struct fake_record *rec; /* shared with the child */
};

/* Forks the child. *client is started (not necessarily authenticated yet);
 * a bus client when script->broker. Returns 0 or -errno. */
int fake_manager_start(struct fake_manager *fm, const struct fake_script *script, sd_bus **client);
/* Waits (at most ~20 s, then SIGKILL) for the child to exit. Returns its
 * exit status: 0 when it served cleanly; -1 if killed. */
int fake_manager_stop(struct fake_manager *fm);
void fake_manager_free(struct fake_manager *fm);

/* The nth (0-based) recorded call of member, or NULL. */
const struct fake_call *fake_call_find(const struct fake_record *rec, const char *member,
				       size_t nth);
size_t fake_call_count(const struct fake_record *rec, const char *member);
/* The property called name in a recorded StartTransientUnit, or NULL. */
const struct fake_property *fake_call_property(const struct fake_call *call, const char *name);

/* Open fds of this process (for leak checks). */
int fake_count_fds(void);

#endif
