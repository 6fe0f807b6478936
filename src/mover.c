/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ks_mover.h"
#include "ks_unitname.h"

#define SD_MANAGER_SERVICE "org.freedesktop.systemd1"
#define SD_MANAGER_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define SD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SD_JOB_IFACE "org.freedesktop.systemd1.Job"
#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define SD_PRIVATE_SOCKET "/run/systemd/private"

/* A session has a handful of trees; anything near these is hostile. */
#define MAX_JOBS 4096
#define MAX_JOB_PATH 1024
#define MAX_RESULT 64
#define MAX_LOGIND_USERS 65536

/* Bus-supplied text in a log line: printable ASCII only, bounded. */
#define LOG_TEXT_MAX 160

/* Copies untrusted text for a log line: control characters (a newline would
 * forge a second syslog line) and non-ASCII become '?', long text is cut
 * and marked with "...". */
static const char *log_text(const char *in, char *out, size_t size)
{
	size_t i;

	if (size < 4)
		return "";
	if (!in)
		in = "(null)";
	for (i = 0; i < size - 1 && in[i]; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = (char)(c >= 0x20 && c < 0x7f ? c : '?');
	}
	out[i] = '\0';
	if (in[i])
		memcpy(out + size - 4, "...", 4);
	return out;
}

int ks_bus_open_manager(sd_bus **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = NULL;

	/* systemd's private socket needs no dbus-daemon and answers even while
	 * the system bus is being restarted; only root may connect. */
	if (geteuid() == 0 && access(SD_PRIVATE_SOCKET, F_OK) == 0) {
		sd_bus *bus = NULL;
		int r = sd_bus_new(&bus);

		if (r < 0)
			return r;
		(void)sd_bus_set_description(bus, "keepsession-manager");
		r = sd_bus_set_address(bus, "unix:path=" SD_PRIVATE_SOCKET);
		/* Non-blocking connect(); authentication completes in the
		 * first bounded call. */
		if (r >= 0)
			r = sd_bus_start(bus);
		if (r >= 0) {
			*ret = bus;
			return 0;
		}
		sd_bus_unref(bus);
	}
	return ks_bus_open_system(ret);
}

int ks_bus_open_system(sd_bus **ret)
{
	if (!ret)
		return -EINVAL;
	*ret = NULL;
	/* Connects without blocking; Hello is sent asynchronously. */
	return sd_bus_open_system(ret);
}

int ks_manager_version_parse(const char *s, unsigned *major)
{
	unsigned long long v = 0;
	size_t digits = 0;

	if (!s || !major)
		return -EINVAL;
	if (strncmp(s, "systemd ", 8) == 0)
		s += 8;
	if (*s == 'v')
		s++;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 0xffffffffULL)
			return -ERANGE;
		s++;
		digits++;
	}
	if (digits == 0)
		return -EINVAL;
	/* "252.39-1~deb12u2", "255-stable", "247 (247.3-7)": the number ends
	 * at punctuation or a blank, never inside a word ("25x"). */
	if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
		return -EINVAL;
	/* 0 means "unknown" to the rest of the mover. */
	if (v == 0)
		return -EINVAL;
	*major = (unsigned)v;
	return 0;
}

/* sd_bus_call() first waits, unbounded but for sd-bus's own 25 s or more,
 * until the connection is authenticated (and, on a bus, until Hello is
 * answered). Doing that wait here keeps it inside our deadline. */
static int bus_wait_ready(sd_bus *bus, uint64_t deadline)
{
	for (;;) {
		uint64_t now;
		int r;

		if (sd_bus_is_ready(bus) > 0)
			return 0;
		if (sd_bus_is_open(bus) <= 0)
			return -ENOTCONN;
		now = ks_now_usec();
		if (now >= deadline)
			return -ETIMEDOUT;
		r = sd_bus_process(bus, NULL);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = sd_bus_wait(bus, deadline - now);
		if (r < 0)
			return r;
	}
}

int ks_bus_call(sd_bus *bus, uint64_t deadline, sd_bus_message *msg, sd_bus_error *error,
		sd_bus_message **reply)
{
	uint64_t now;
	int r;

	r = bus_wait_ready(bus, deadline);
	if (r < 0)
		return r;
	now = ks_now_usec();
	if (now >= deadline)
		return -ETIMEDOUT;
	return sd_bus_call(bus, msg, deadline - now, error, reply);
}

/* Did the call fail for lack of an answer rather than with one? */
static bool call_lost(sd_bus *bus, int r)
{
	return r == -ETIMEDOUT || sd_bus_is_open(bus) <= 0;
}

/* Did systemd refuse because a process it was given no longer exists?
 * Names from systemd 247-257; sd-bus maps the generic ones to ESRCH. */
static bool process_gone(const sd_bus_error *error, int r)
{
	return r == -ESRCH ||
	       sd_bus_error_has_name(error, "org.freedesktop.systemd1.NoSuchProcess") ||
	       sd_bus_error_has_name(error, SD_BUS_ERROR_UNIX_PROCESS_ID_UNKNOWN);
}

static void log_call_error(const struct ks_mover *m, const char *what, const char *unit,
			   const sd_bus_error *error, int r)
{
	if (r == -ETIMEDOUT || sd_bus_error_has_name(error, SD_BUS_ERROR_TIMEOUT)) {
		/* The call was sent: PID 1 may still carry it out. */
		ks_log(m->log, LOG_ERR, "%s(%s): no answer in time; systemd may still carry it out",
		       what, unit ? unit : "");
	} else if (sd_bus_error_is_set(error)) {
		char name[LOG_TEXT_MAX], message[LOG_TEXT_MAX];

		ks_log(m->log, LOG_ERR, "%s(%s) failed: %s: %s", what, unit ? unit : "",
		       log_text(error->name, name, sizeof(name)),
		       log_text(error->message ? error->message : "", message, sizeof(message)));
	} else {
		ks_log(m->log, LOG_ERR, "%s(%s) failed: %s", what, unit ? unit : "",
		       strerror(r < 0 ? -r : r));
	}
}

static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	struct ks_mover *m = userdata;
	const char *path, *unit, *result;
	char text[MAX_RESULT];
	uint32_t id;

	(void)ret_error;
	/* On a bus, anyone may send a JobRemoved, and a match on the
	 * well-known name lets any sender through: only the manager's
	 * unique name, as it answered our calls, is believed. */
	if (m->manager_unique) {
		const char *sender = sd_bus_message_get_sender(msg);

		if (!sender || strcmp(sender, m->manager_unique) != 0)
			return 0;
	} else if (m->bus_client) {
		return 0;
	}
	/* A malformed signal is ignored, not trusted. */
	if (sd_bus_message_read(msg, "uoss", &id, &path, &unit, &result) < 0)
		return 0;
	for (size_t i = 0; i < m->n_jobs; i++) {
		struct ks_job *j = &m->jobs[i];

		if (j->state != KS_JOB_PENDING || strcmp(j->path, path) != 0 ||
		    strcmp(j->unit, unit) != 0)
			continue;
		/* Stored printable: callers put it in log lines. */
		j->result = strdup(log_text(result, text, sizeof(text)));
		j->state = strcmp(result, "done") == 0 ? KS_JOB_DONE : KS_JOB_FAILED;
		break;
	}
	return 0;
}

/* Remembers who answered for the manager on a bus: the unique name that
 * JobRemoved must come from. */
static int note_manager(struct ks_mover *m, sd_bus_message *reply)
{
	const char *sender;

	if (!m->bus_client || m->manager_unique)
		return 0;
	sender = sd_bus_message_get_sender(reply);
	if (!sender || sender[0] != ':')
		return 0;
	m->manager_unique = strdup(sender);
	return m->manager_unique ? 0 : -ENOMEM;
}

static int read_version(struct ks_mover *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	char text[LOG_TEXT_MAX];
	const char *s;
	unsigned major;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &msg, SD_MANAGER_SERVICE, SD_MANAGER_PATH,
					   PROPERTIES_IFACE, "Get");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", SD_MANAGER_IFACE, "Version");
	if (r < 0)
		goto out;
	r = ks_bus_call(m->bus, m->deadline, msg, &error, &reply);
	if (r >= 0)
		r = note_manager(m, reply);
	if (r < 0) {
		if (call_lost(m->bus, r))
			goto out; /* the caller says it, once */
		/* The manager answered, just not with its version: carry on
		 * with what every supported version understands. */
		ks_log(m->log, LOG_NOTICE,
		       "cannot read the manager's Version (%s); "
		       "using only settings every version knows",
		       log_text(error.name, text, sizeof(text)));
		r = 0;
		goto out;
	}
	if (sd_bus_message_read(reply, "v", "s", &s) <= 0) {
		ks_log(m->log, LOG_NOTICE,
		       "the manager's Version is not a string; "
		       "using only settings every version knows");
		r = 0;
		goto out;
	}
	if (ks_manager_version_parse(s, &major) < 0) {
		ks_log(m->log, LOG_NOTICE,
		       "cannot parse the manager's Version \"%s\"; "
		       "using only settings every version knows",
		       log_text(s, text, sizeof(text)));
		r = 0;
		goto out;
	}
	m->version = major;
	ks_log(m->log, LOG_DEBUG, "systemd manager version %u", major);
	r = 0;
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(msg);
	return r;
}

static int subscribe(struct ks_mover *m)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(m->bus, &msg, SD_MANAGER_SERVICE, SD_MANAGER_PATH,
					   SD_MANAGER_IFACE, "Subscribe");
	if (r < 0)
		goto out;
	r = ks_bus_call(m->bus, m->deadline, msg, &error, &reply);
	if (r >= 0)
		r = note_manager(m, reply);
	if (r < 0) {
		if (call_lost(m->bus, r))
			goto out; /* the caller says it, once */
		/* systemd also sends JobRemoved to whoever queued the job, so
		 * a refused Subscribe costs nothing. */
		ks_log(m->log, LOG_DEBUG, "Subscribe refused; relying on job tracking");
		r = 0;
	}
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(msg);
	return r;
}

int ks_mover_open(struct ks_mover *m, sd_bus *bus, uint64_t deadline, const struct ks_log *log)
{
	bool bus_client;
	int r;

	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->bus = bus;
	m->deadline = deadline;
	m->log = log;
	if (!bus)
		return -EINVAL;

	/* Failures here are the caller's to log, in one line. */
	if (ks_now_usec() >= deadline)
		return -ETIMEDOUT;
	/* On systemd's private socket there is no broker and no sender name:
	 * whatever arrives comes from the manager. On a bus, the broker
	 * guarantees the sender. The match goes in before any call so that no
	 * JobRemoved can slip past; asynchronously, as a synchronous AddMatch
	 * would use sd-bus's default timeout. */
	bus_client = sd_bus_is_bus_client(bus) > 0;
	m->bus_client = bus_client;
	r = sd_bus_match_signal_async(bus, &m->job_removed, bus_client ? SD_MANAGER_SERVICE : NULL,
				      SD_MANAGER_PATH, SD_MANAGER_IFACE, "JobRemoved",
				      on_job_removed, NULL, m);
	if (r < 0)
		return r;

	r = bus_wait_ready(bus, deadline);
	if (r < 0)
		goto fail;
	/* The private socket gets every signal unconditionally; through the
	 * bus systemd sends them to subscribers (and to a job's own client). */
	if (bus_client) {
		r = subscribe(m);
		if (r < 0)
			goto fail;
	}
	r = read_version(m);
	if (r < 0)
		goto fail;
	return 0;
fail:
	ks_mover_close(m);
	return r;
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

static int append_pids(sd_bus_message *msg, const char *name, const char *type,
		       const struct ks_scope_request *r, bool fds, bool only_without_fd)
{
	int q;

	q = sd_bus_message_open_container(msg, 'r', "sv");
	if (q >= 0)
		q = sd_bus_message_append(msg, "s", name);
	if (q >= 0) {
		const char contents[3] = { 'a', type[0], '\0' };

		q = sd_bus_message_open_container(msg, 'v', contents);
	}
	if (q >= 0)
		q = sd_bus_message_open_container(msg, 'a', type);
	for (size_t i = 0; q >= 0 && i < r->n; i++) {
		if (fds) {
			if (r->pidfds[i] >= 0)
				q = sd_bus_message_append(msg, "h", r->pidfds[i]);
		} else if (!only_without_fd || r->pidfds[i] < 0) {
			q = sd_bus_message_append(msg, "u", (uint32_t)r->pids[i]);
		}
	}
	if (q >= 0)
		q = sd_bus_message_close_container(msg);
	if (q >= 0)
		q = sd_bus_message_close_container(msg);
	if (q >= 0)
		q = sd_bus_message_close_container(msg);
	return q;
}

static int append_runtime_dir(sd_bus_message *msg, uid_t uid)
{
	char unit[64];
	int q;

	(void)snprintf(unit, sizeof(unit), "user-runtime-dir@%" PRIu32 ".service", (uint32_t)uid);
	q = sd_bus_message_append(msg, "(sv)", "Wants", "as", 1, unit);
	if (q >= 0)
		q = sd_bus_message_append(msg, "(sv)", "After", "as", 1, unit);
	return q;
}

static int build_start(struct ks_mover *m, const struct ks_scope_request *r, const char *slice,
		       bool use_pidfds, sd_bus_message **ret)
{
	sd_bus_message *msg = NULL;
	int q;

	q = sd_bus_message_new_method_call(m->bus, &msg, SD_MANAGER_SERVICE, SD_MANAGER_PATH,
					   SD_MANAGER_IFACE, "StartTransientUnit");
	if (q < 0)
		return q;
	/* Never wait for a polkit prompt. */
	(void)sd_bus_message_set_allow_interactive_authorization(msg, 0);
	q = sd_bus_message_append(msg, "ss", r->unit, "fail");
	if (q >= 0)
		q = sd_bus_message_open_container(msg, 'a', "(sv)");
	/* One (name, type, value) per line. */
	/* clang-format off */
	if (q >= 0)
		q = sd_bus_message_append(msg, "(sv)(sv)(sv)(sv)",
					  "Description", "s",
					  r->description ? r->description : r->unit,
					  "Slice", "s", slice,
					  "CollectMode", "s", "inactive-or-failed",
					  /* AttachProcessesToUnit, for the rest of the
					   * tree, works on delegated units only. */
					  "Delegate", "b", 1);
	/* clang-format on */
	/* $XDG_RUNTIME_DIR (zellij's and shpool's sockets, tmux -S there)
	 * outlives the user's last logout while a kept scope wants it: up to
	 * systemd 256, logind stops only user@UID.service and lets
	 * StopWhenUnneeded= take user-runtime-dir@UID.service. After= orders
	 * the directory's removal after the scope's stop. Never Requires= or
	 * BindsTo=: from 257 logind stops the directory itself, and that would
	 * stop the kept scope with it. */
	if (q >= 0)
		q = append_runtime_dir(msg, r->uid);
	/* One OOM kill inside a multiplexer must not stop the whole scope. */
	if (q >= 0 && m->version >= KS_SD_SCOPE_OOM_POLICY)
		q = sd_bus_message_append(msg, "(sv)", "OOMPolicy", "s", "continue");
	if (q >= 0 && r->runtime_max_usec > 0 && m->version >= KS_SD_SCOPE_RUNTIME_MAX)
		q = sd_bus_message_append(msg, "(sv)", "RuntimeMaxUSec", "t", r->runtime_max_usec);
	if (q >= 0 && use_pidfds) {
		size_t with_fd = 0;

		for (size_t i = 0; i < r->n; i++)
			if (r->pidfds[i] >= 0)
				with_fd++;
		/* A pidfd names the process, not a number that may have been
		 * reused; processes without one still go by PID. */
		q = append_pids(msg, "PIDFDs", "h", r, true, false);
		if (q >= 0 && with_fd < r->n)
			q = append_pids(msg, "PIDs", "u", r, false, true);
	} else if (q >= 0) {
		q = append_pids(msg, "PIDs", "u", r, false, false);
	}
	if (q >= 0)
		q = sd_bus_message_close_container(msg);
	if (q >= 0)
		q = sd_bus_message_append(msg, "a(sa(sv))", 0);
	if (q < 0) {
		sd_bus_message_unref(msg);
		return q;
	}
	*ret = msg;
	return 0;
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

static int record_job(struct ks_mover *m, const char *unit, const char *path)
{
	struct ks_job *jobs;
	struct ks_job *j;

	if (m->n_jobs >= MAX_JOBS)
		return -E2BIG;
	jobs = realloc(m->jobs, (m->n_jobs + 1) * sizeof(*jobs));
	if (!jobs)
		return -ENOMEM;
	m->jobs = jobs;
	j = &jobs[m->n_jobs];
	memset(j, 0, sizeof(*j));
	j->unit = strdup(unit);
	j->path = strdup(path);
	if (!j->unit || !j->path) {
		free(j->unit);
		free(j->path);
		return -ENOMEM;
	}
	j->state = KS_JOB_PENDING;
	return (int)m->n_jobs++;
}

int ks_mover_start(struct ks_mover *m, const struct ks_scope_request *r)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	char slice[256], text[LOG_TEXT_MAX];
	const char *path;
	bool use_pidfds;
	int q;

	if (!m || !m->bus || !r || !r->unit || !r->pids || r->n == 0)
		return -EINVAL;

	q = ks_mover_slice(m, r, slice, sizeof(slice));
	if (q < 0) {
		ks_log(m->log, LOG_ERR, "invalid slice \"%s\" for %s",
		       log_text(r->slice ? r->slice : "", text, sizeof(text)), r->unit);
		return q;
	}
	/* Once per mover: the first start is where every session's request
	 * passes. */
	if (r->runtime_max_usec > 0 && m->version < KS_SD_SCOPE_RUNTIME_MAX && m->n_jobs == 0)
		ks_log(m->log, LOG_NOTICE, "max_age needs systemd >= %d; no limit",
		       KS_SD_SCOPE_RUNTIME_MAX);

	use_pidfds = wants_pidfds(m, r);
	for (;;) {
		q = build_start(m, r, slice, use_pidfds, &msg);
		if (q < 0) {
			ks_log(m->log, LOG_ERR, "cannot build StartTransientUnit(%s): %s", r->unit,
			       strerror(-q));
			goto out;
		}
		q = ks_bus_call(m->bus, m->deadline, msg, &error, &reply);
		if (q >= 0)
			break;
		if (!call_lost(m->bus, q) && process_gone(&error, q)) {
			/* The process exited since its check: the caller
			 * re-roots its tree, nothing to say here. */
			ks_log(m->log, LOG_DEBUG, "StartTransientUnit(%s): the process is gone",
			       r->unit);
			q = -ESRCH;
			goto out;
		}
		if (!use_pidfds || call_lost(m->bus, q) ||
		    !sd_bus_error_has_names(
			    &error, SD_BUS_ERROR_PROPERTY_READ_ONLY, SD_BUS_ERROR_INVALID_ARGS,
			    SD_BUS_ERROR_UNKNOWN_PROPERTY, SD_BUS_ERROR_NOT_SUPPORTED)) {
			log_call_error(m, "StartTransientUnit", r->unit, &error, q);
			goto out;
		}
		/* A manager that does not know PIDFDs says so in one of these
		 * ways; its refusal created nothing, so the same name is
		 * free for the retry. */
		ks_log(m->log, LOG_DEBUG, "manager refused PIDFDs (%s); using PIDs",
		       log_text(error.name, text, sizeof(text)));
		m->pidfds_refused = true;
		use_pidfds = false;
		sd_bus_error_free(&error);
		msg = sd_bus_message_unref(msg);
	}

	q = note_manager(m, reply);
	if (q < 0)
		goto out;
	q = sd_bus_message_read(reply, "o", &path);
	if (q <= 0) {
		ks_log(m->log, LOG_ERR, "StartTransientUnit(%s): unexpected reply signature \"%s\"",
		       r->unit,
		       log_text(sd_bus_message_get_signature(reply, 1), text, sizeof(text)));
		q = -EBADMSG;
		goto out;
	}
	if (strlen(path) > MAX_JOB_PATH) {
		ks_log(m->log, LOG_ERR, "StartTransientUnit(%s): job path too long", r->unit);
		q = -EBADMSG;
		goto out;
	}
	q = record_job(m, r->unit, path);
	if (q < 0)
		ks_log(m->log, LOG_ERR, "cannot track the job for %s: %s", r->unit, strerror(-q));
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(msg);
	return q;
}

static size_t pending_jobs(const struct ks_mover *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_jobs; i++)
		if (m->jobs[i].state == KS_JOB_PENDING)
			n++;
	return n;
}

static void end_pending(struct ks_mover *m, enum ks_job_state state)
{
	for (size_t i = 0; i < m->n_jobs; i++)
		if (m->jobs[i].state == KS_JOB_PENDING)
			m->jobs[i].state = state;
}

int ks_mover_wait(struct ks_mover *m)
{
	int not_done = 0;

	if (!m)
		return -EINVAL;

	while (m->bus && pending_jobs(m) > 0) {
		uint64_t now;
		int r;

		/* Process before looking at the clock, so that a JobRemoved
		 * already received is not mistaken for a timeout; every
		 * round still checks the deadline, however busy the bus. */
		r = sd_bus_process(m->bus, NULL);
		if (pending_jobs(m) == 0)
			break;
		if (r < 0 || (r == 0 && sd_bus_is_open(m->bus) <= 0)) {
			ks_log(m->log, LOG_ERR, "lost the connection to the systemd manager: %s",
			       strerror(r < 0 ? -r : ENOTCONN));
			end_pending(m, KS_JOB_FAILED);
			break;
		}
		now = ks_now_usec();
		if (now >= m->deadline) {
			end_pending(m, KS_JOB_TIMEOUT);
			break;
		}
		if (r > 0)
			continue;
		r = sd_bus_wait(m->bus, m->deadline - now);
		if (r < 0) {
			ks_log(m->log, LOG_ERR, "waiting for systemd jobs: %s", strerror(-r));
			end_pending(m, KS_JOB_FAILED);
			break;
		}
	}
	/* No bus: nothing can still answer. */
	end_pending(m, KS_JOB_FAILED);

	for (size_t i = 0; i < m->n_jobs; i++) {
		const struct ks_job *j = &m->jobs[i];

		if (j->state == KS_JOB_DONE)
			continue;
		not_done++;
		/* The caller says what it means for its session; this is
		 * the detail. */
		if (j->state == KS_JOB_TIMEOUT)
			ks_log(m->log, LOG_DEBUG, "%s: no answer from systemd in time", j->unit);
		else
			ks_log(m->log, LOG_DEBUG, "%s: job %s", j->unit,
			       j->result ? j->result : "failed");
	}
	return not_done;
}

int ks_mover_attach(struct ks_mover *m, const char *unit, const pid_t *pids, size_t n)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	int r;

	if (!m || !m->bus || !unit || (!pids && n > 0))
		return -EINVAL;
	if (n == 0)
		return 0;

	r = sd_bus_message_new_method_call(m->bus, &msg, SD_MANAGER_SERVICE, SD_MANAGER_PATH,
					   SD_MANAGER_IFACE, "AttachProcessesToUnit");
	if (r >= 0) {
		(void)sd_bus_message_set_allow_interactive_authorization(msg, 0);
		r = sd_bus_message_append(msg, "ss", unit, "");
	}
	if (r >= 0)
		r = sd_bus_message_open_container(msg, 'a', "u");
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = sd_bus_message_append(msg, "u", (uint32_t)pids[i]);
	if (r >= 0)
		r = sd_bus_message_close_container(msg);
	if (r < 0) {
		ks_log(m->log, LOG_ERR, "cannot build AttachProcessesToUnit(%s): %s", unit,
		       strerror(-r));
		goto out;
	}
	r = ks_bus_call(m->bus, m->deadline, msg, &error, &reply);
	if (r < 0 && process_gone(&error, r)) {
		/* A process that exited meanwhile: expected at logout, and
		 * the caller retries without it. */
		ks_log(m->log, LOG_DEBUG, "AttachProcessesToUnit(%s): a process is gone", unit);
		r = -ESRCH;
		goto out;
	}
	if (r < 0) {
		log_call_error(m, "AttachProcessesToUnit", unit, &error, r);
		goto out;
	}
	r = 0;
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(msg);
	return r;
}

void ks_mover_close(struct ks_mover *m)
{
	if (!m)
		return;
	m->job_removed = sd_bus_slot_unref(m->job_removed);
	for (size_t i = 0; i < m->n_jobs; i++) {
		free(m->jobs[i].unit);
		free(m->jobs[i].path);
		free(m->jobs[i].result);
	}
	free(m->jobs);
	m->jobs = NULL;
	m->n_jobs = 0;
	free(m->manager_unique);
	m->manager_unique = NULL;
}

/* Reads one logind Manager property. type is 'b' (into *b) or 'a' for "as"
 * (appended to *list). A wrong type is -EBADMSG. */
static int logind_get(sd_bus *bus, uint64_t deadline, const char *property, char type, bool *b,
		      struct ks_strlist *list)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, LOGIND_SERVICE, LOGIND_PATH, PROPERTIES_IFACE,
					   "Get");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", LOGIND_IFACE, property);
	if (r < 0)
		goto out;
	r = ks_bus_call(bus, deadline, msg, &error, &reply);
	if (r < 0)
		goto out;

	if (type == 'b') {
		int v;

		if (sd_bus_message_read(reply, "v", "b", &v) <= 0) {
			r = -EBADMSG;
			goto out;
		}
		*b = v != 0;
		r = 0;
		goto out;
	}

	if (sd_bus_message_enter_container(reply, 'v', "as") <= 0 ||
	    sd_bus_message_enter_container(reply, 'a', "s") <= 0) {
		r = -EBADMSG;
		goto out;
	}
	for (size_t n = 0;; n++) {
		const char *s;

		r = sd_bus_message_read(reply, "s", &s);
		if (r < 0) {
			r = -EBADMSG;
			goto out;
		}
		if (r == 0)
			break;
		if (n >= MAX_LOGIND_USERS) {
			r = -E2BIG;
			goto out;
		}
		r = ks_strlist_add(list, s, strlen(s));
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(msg);
	return r;
}

int ks_logind_kill_settings(sd_bus *bus, uint64_t deadline, bool *kill_user_processes,
			    struct ks_strlist *kill_only_users,
			    struct ks_strlist *kill_exclude_users)
{
	struct ks_strlist only = { 0 }, exclude = { 0 };
	bool kill = false;
	int r;

	if (!bus || !kill_user_processes || !kill_only_users || !kill_exclude_users)
		return -EINVAL;

	/* Into temporaries first: a failure leaves the outputs as they were. */
	r = logind_get(bus, deadline, "KillUserProcesses", 'b', &kill, NULL);
	if (r >= 0)
		r = logind_get(bus, deadline, "KillOnlyUsers", 'a', NULL, &only);
	if (r >= 0)
		r = logind_get(bus, deadline, "KillExcludeUsers", 'a', NULL, &exclude);
	if (r < 0) {
		ks_strlist_clear(&only);
		ks_strlist_clear(&exclude);
		return r;
	}
	*kill_user_processes = kill;
	ks_strlist_clear(kill_only_users);
	*kill_only_users = only;
	ks_strlist_clear(kill_exclude_users);
	*kill_exclude_users = exclude;
	return 0;
}

/* GetUnit(unit): its object path into *path (malloc'd); -ENOENT when no
 * such unit is loaded. */
static int get_unit_path(sd_bus *bus, uint64_t deadline, const char *unit, char **path)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *msg = NULL, *reply = NULL;
	const char *value = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, SD_MANAGER_SERVICE, SD_MANAGER_PATH,
					   SD_MANAGER_IFACE, "GetUnit");
	if (r >= 0)
		r = sd_bus_message_append(msg, "s", unit);
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, &error, &reply);
	if (r < 0 && sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit"))
		r = -ENOENT;
	if (r >= 0 && (sd_bus_message_read(reply, "o", &value) <= 0 || !value))
		r = -EBADMSG;
	if (r >= 0) {
		*path = strdup(value);
		if (!*path)
			r = -ENOMEM;
	}
	sd_bus_error_free(&error);
	sd_bus_message_unref(msg);
	sd_bus_message_unref(reply);
	return r;
}

/* Properties.Get of a manager object; *reply is left for the caller to
 * read the variant from. */
static int manager_get(sd_bus *bus, uint64_t deadline, const char *path, const char *interface,
		       const char *property, sd_bus_message **reply)
{
	sd_bus_message *msg = NULL;
	int r;

	r = sd_bus_message_new_method_call(bus, &msg, SD_MANAGER_SERVICE, path, PROPERTIES_IFACE,
					   "Get");
	if (r >= 0)
		r = sd_bus_message_append(msg, "ss", interface, property);
	if (r >= 0)
		r = ks_bus_call(bus, deadline, msg, NULL, reply);
	sd_bus_message_unref(msg);
	return r;
}

int ks_unit_stopping(void *bus, const char *unit, uint64_t deadline)
{
	sd_bus_message *reply = NULL;
	const char *job_path = NULL, *type = NULL;
	char *path = NULL, *job = NULL;
	uint32_t job_id = 0;
	int r;

	r = get_unit_path(bus, deadline, unit, &path);
	if (r == -ENOENT)
		return 0; /* not loaded: no job either */
	if (r >= 0)
		r = manager_get(bus, deadline, path, SD_UNIT_IFACE, "Job", &reply);
	if (r >= 0 &&
	    (sd_bus_message_read(reply, "v", "(uo)", &job_id, &job_path) <= 0 || !job_path))
		r = -EBADMSG;
	if (r < 0)
		goto out;
	if (job_id == 0) {
		r = 0; /* no job */
		goto out;
	}
	/* The path is the reply's: copied before the reply goes. */
	job = strdup(job_path);
	reply = sd_bus_message_unref(reply);
	r = job ? manager_get(bus, deadline, job, SD_JOB_IFACE, "JobType", &reply) : -ENOMEM;
	if (r >= 0 && (sd_bus_message_read(reply, "v", "s", &type) <= 0 || !type))
		r = -EBADMSG;
	if (r >= 0)
		r = strcmp(type, "stop") == 0;
out:
	sd_bus_message_unref(reply);
	free(path);
	free(job);
	return r;
}

int ks_user_stopping(ks_unit_stopping_fn unit_stopping, void *ctx, uid_t uid, uint64_t deadline,
		     char *unit, size_t size)
{
	static const char *const names[][2] = {
		{ "user@", ".service" },
		{ "user-runtime-dir@", ".service" },
		{ "user-", ".slice" },
	};
	int result = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int r;

		(void)snprintf(unit, size, "%s%u%s", names[i][0], (unsigned)uid, names[i][1]);
		r = unit_stopping(ctx, unit, deadline);
		if (r > 0)
			return 1;
		if (r < 0 && result == 0)
			result = r;
	}
	return result;
}
