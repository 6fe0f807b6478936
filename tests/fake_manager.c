/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_manager.h"
#include "ks_cleanup.h"

#define MANAGER_IFACE "org.freedesktop.systemd1.Manager"
#define MANAGER_PATH "/org/freedesktop/systemd1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"
#define SYSTEMD_UNIQUE ":1.1"
#define CLIENT_UNIQUE ":1.42"

struct held_signal {
	char path[128];
	char unit[FAKE_STR];
	char result[64];
	bool set;
};

struct child {
	sd_bus *bus;
	const struct fake_script *script;
	struct fake_record *rec;
	size_t starts; /* StartTransientUnit calls that consumed a step */
	struct held_signal held[FAKE_MAX_STEPS];
	bool quit;
	bool killed; /* attach_kill_pid was killed */
};

static void copy_str(char *dst, size_t size, const char *src)
{
	(void)snprintf(dst, size, "%s", src ? src : "");
}

static void child_error(struct child *c, const char *what, int r)
{
	if (c->rec->error[0])
		return;
	(void)snprintf(c->rec->error, sizeof(c->rec->error), "%s: %s", what,
		       strerror(r < 0 ? -r : r));
}

/* The PID a pidfd refers to, from the kernel's fdinfo. */
static uint32_t pidfd_pid(int fd)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int f;

	(void)snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strstr(buf, "\nPid:");
	if (!p)
		return 0;
	return (uint32_t)strtoul(p + 5, NULL, 10);
}

static int read_variant(struct child *c, sd_bus_message *m, struct fake_property *prop)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r <= 0 || type != 'v')
		return r < 0 ? r : -EBADMSG;
	copy_str(prop->signature, sizeof(prop->signature), contents);
	r = sd_bus_message_enter_container(m, 'v', contents);
	if (r < 0)
		return r;

	if (strcmp(contents, "s") == 0) {
		const char *s;

		r = sd_bus_message_read(m, "s", &s);
		if (r >= 0)
			copy_str(prop->value, sizeof(prop->value), s);
	} else if (strcmp(contents, "t") == 0) {
		uint64_t t;

		r = sd_bus_message_read(m, "t", &t);
		if (r >= 0)
			(void)snprintf(prop->value, sizeof(prop->value), "%" PRIu64, t);
	} else if (strcmp(contents, "b") == 0) {
		int b;

		r = sd_bus_message_read(m, "b", &b);
		if (r >= 0)
			copy_str(prop->value, sizeof(prop->value), b ? "yes" : "no");
	} else if (strcmp(contents, "as") == 0) {
		const char *item;

		/* The strings, blank-separated. */
		r = sd_bus_message_enter_container(m, 'a', "s");
		while (r >= 0 && (r = sd_bus_message_read(m, "s", &item)) > 0) {
			size_t used = strlen(prop->value);

			(void)snprintf(prop->value + used, sizeof(prop->value) - used, "%s%s",
				       used ? " " : "", item);
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	} else if (strcmp(contents, "au") == 0 || strcmp(contents, "ah") == 0) {
		bool fds = contents[1] == 'h';

		r = sd_bus_message_enter_container(m, 'a', contents + 1);
		while (r >= 0) {
			uint32_t pid;

			if (fds) {
				int fd;

				r = sd_bus_message_read(m, "h", &fd);
				pid = r > 0 ? pidfd_pid(fd) : 0;
			} else {
				r = sd_bus_message_read(m, "u", &pid);
			}
			if (r <= 0)
				break;
			if (prop->n_pids < FAKE_MAX_PIDS)
				prop->pids[prop->n_pids++] = pid;
		}
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	} else {
		r = sd_bus_message_skip(m, contents);
	}
	if (r < 0)
		return r;
	(void)c;
	return sd_bus_message_exit_container(m);
}

static int read_start(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const char *unit, *mode;
	int r;

	r = sd_bus_message_read(m, "ss", &unit, &mode);
	if (r < 0)
		return r;
	copy_str(call->arg0, sizeof(call->arg0), unit);
	copy_str(call->arg1, sizeof(call->arg1), mode);

	r = sd_bus_message_enter_container(m, 'a', "(sv)");
	if (r < 0)
		return r;
	for (;;) {
		struct fake_property scratch, *prop;
		const char *name;

		r = sd_bus_message_enter_container(m, 'r', "sv");
		if (r < 0)
			return r;
		if (r == 0)
			break;
		r = sd_bus_message_read(m, "s", &name);
		if (r < 0)
			return r;
		prop = call->n_props < FAKE_MAX_PROPS ? &call->props[call->n_props++] : &scratch;
		memset(prop, 0, sizeof(*prop));
		copy_str(prop->name, sizeof(prop->name), name);
		r = read_variant(c, m, prop);
		if (r < 0)
			return r;
		r = sd_bus_message_exit_container(m);
		if (r < 0)
			return r;
	}
	r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;

	r = sd_bus_message_enter_container(m, 'a', "(sa(sv))");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_at_end(m, false)) == 0) {
		r = sd_bus_message_skip(m, "(sa(sv))");
		if (r < 0)
			return r;
		call->n_aux++;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static bool has_property(const struct fake_call *call, const char *name)
{
	return fake_call_property(call, name) != NULL;
}

static int send_job_removed(struct child *c, uint32_t id, const char *path, const char *unit,
			    const char *result)
{
	sd_bus_message *sig = NULL;
	int r;

	r = sd_bus_message_new_signal(c->bus, &sig, MANAGER_PATH, MANAGER_IFACE, "JobRemoved");
	if (r >= 0)
		r = sd_bus_message_append(sig, "uoss", id, path, unit, result);
	/* Through a broker, signals carry the sender's unique name. */
	if (r >= 0 && c->script->broker)
		r = sd_bus_message_set_sender(sig, SYSTEMD_UNIQUE);
	if (r >= 0)
		r = sd_bus_send(c->bus, sig, NULL);
	sd_bus_message_unref(sig);
	if (r < 0 && r != -ENOTCONN && r != -ECONNRESET && r != -EPIPE)
		child_error(c, "JobRemoved", r);
	return r;
}

/* Another local user's JobRemoved for our job, through the broker: its
 * sender is that user's unique name, not the manager's. */
static int send_forged(struct child *c, uint32_t id, const char *path, const char *unit)
{
	sd_bus_message *sig = NULL;
	int r;

	r = sd_bus_message_new_signal(c->bus, &sig, MANAGER_PATH, MANAGER_IFACE, "JobRemoved");
	if (r >= 0)
		r = sd_bus_message_append(sig, "uoss", id, path, unit, c->script->forged_sender);
	if (r >= 0)
		r = sd_bus_message_set_sender(sig, ":1.666");
	if (r >= 0)
		r = sd_bus_send(c->bus, sig, NULL);
	sd_bus_message_unref(sig);
	return r;
}

/* The broker's own answer to a call, without auto-start, for a name
 * nobody owns. */
static int reply_no_owner(sd_bus_message *call)
{
	sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_errorf(call, &reply, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
					     "Name \"org.freedesktop.systemd1\" does not exist");
	if (r >= 0)
		r = sd_bus_message_set_sender(reply, "org.freedesktop.DBus");
	if (r >= 0)
		r = sd_bus_send(sd_bus_message_get_bus(call), reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static void release_held(struct child *c)
{
	const struct fake_script *s = c->script;

	if (s->foreign_signals) {
		(void)send_job_removed(c, 9999, MANAGER_PATH "/job/9999", c->held[0].unit, "done");
		(void)send_job_removed(c, 100, c->held[0].path, "other.scope", "done");
	}
	for (size_t i = 0; i < s->hold_signals_until && i < FAKE_MAX_STEPS; i++) {
		size_t k = s->signal_order[i];

		if (k >= FAKE_MAX_STEPS || !c->held[k].set)
			continue;
		(void)send_job_removed(c, (uint32_t)(100 + k), c->held[k].path, c->held[k].unit,
				       c->held[k].result);
		c->held[k].set = false;
	}
}

/* Waits (2 s at most) until pid has exited: a SIGKILL is delivered
 * asynchronously, and systemd only says "gone" of a process that is. */
static void wait_dead(pid_t pid)
{
	for (int i = 0; i < 2000; i++) {
		char path[64], buf[512];
		const char *paren;
		ssize_t n;
		int fd;

		(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return;
		buf[n] = '\0';
		paren = strrchr(buf, ')');
		if (!paren || paren[1] != ' ' || paren[2] == 'Z' || paren[2] == 'X')
			return;
		(void)usleep(1000);
	}
}

/* Takes a fake process out of the fake /proc, as its exit would. */
static void remove_proc_dir(const char *dir)
{
	static const char *const files[] = { "stat", "status", "exe" };
	char path[4096];

	if (!dir)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

static int handle_start(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const struct fake_script *s = c->script;
	struct fake_start_step step = { .action = FAKE_START_OK };
	const char *result;
	size_t index;
	int r;

	r = read_start(c, m, call);
	if (r < 0) {
		child_error(c, "StartTransientUnit arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	if (s->refuse_pidfds_error && has_property(call, "PIDFDs"))
		return sd_bus_reply_method_errorf(m, s->refuse_pidfds_error, "%s",
						  "Cannot set property PIDFDs, "
						  "or unknown property.");

	for (size_t p = 0; s->start_kill_pid && !c->killed && p < call->n_props; p++)
		for (size_t k = 0; k < call->props[p].n_pids; k++)
			if (call->props[p].pids[k] == s->start_kill_pid) {
				c->killed = true;
				(void)kill((pid_t)s->start_kill_pid, SIGKILL);
				wait_dead((pid_t)s->start_kill_pid);
				remove_proc_dir(s->start_kill_dir);
			}
	index = c->starts++;
	if (s->start_delay_usec)
		(void)usleep((useconds_t)s->start_delay_usec);
	if (index < s->n_steps && index < FAKE_MAX_STEPS)
		step = s->steps[index];
	result = step.result ? step.result : "done";
	(void)snprintf(call->job, sizeof(call->job), MANAGER_PATH "/job/%zu", 100 + index);

	switch (step.action) {
	case FAKE_START_ERROR:
		return sd_bus_reply_method_errorf(m, step.error_name, "%s",
						  step.error_message ? step.error_message :
								       "refused");
	case FAKE_START_HANG:
		return 0;
	case FAKE_START_DISCONNECT:
		c->quit = true;
		return 0;
	case FAKE_START_WRONG_SIGNATURE:
		return sd_bus_reply_method_return(m, "s", call->job);
	default:
		break;
	}

	r = sd_bus_reply_method_return(m, "o", call->job);
	if (r < 0)
		return r;
	switch (step.action) {
	case FAKE_START_NO_SIGNAL:
		return 0;
	case FAKE_START_DISCONNECT_AFTER_REPLY:
		c->quit = true;
		return 0;
	case FAKE_START_SIGNAL_THEN_DISCONNECT:
		c->quit = true;
		return send_job_removed(c, (uint32_t)(100 + index), call->job, call->arg0, result);
	default:
		break;
	}

	if (s->forged_sender)
		(void)send_forged(c, (uint32_t)(100 + index), call->job, call->arg0);
	if (s->hold_signals_until == 0)
		return send_job_removed(c, (uint32_t)(100 + index), call->job, call->arg0, result);
	if (index < FAKE_MAX_STEPS) {
		struct held_signal *h = &c->held[index];

		copy_str(h->path, sizeof(h->path), call->job);
		copy_str(h->unit, sizeof(h->unit), call->arg0);
		copy_str(h->result, sizeof(h->result), result);
		h->set = true;
	}
	if (c->starts == s->hold_signals_until)
		release_held(c);
	return 0;
}

static int reply_strv(sd_bus_message *m, const char *const *list)
{
	sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'v', "as");
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "s");
	for (size_t i = 0; r >= 0 && list && list[i]; i++)
		r = sd_bus_message_append(reply, "s", list[i]);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

#define UNIT_PATH_PREFIX "/org/freedesktop/systemd1/unit/"

/* The scripted unit behind a Get's object path, or NULL. */
static const struct fake_unit *unit_of_path(const struct fake_script *s, const char *path)
{
	char *end;
	unsigned long i;

	if (!path || strncmp(path, UNIT_PATH_PREFIX, strlen(UNIT_PATH_PREFIX)) != 0)
		return NULL;
	i = strtoul(path + strlen(UNIT_PATH_PREFIX), &end, 10);
	return *end == '\0' && i < s->n_units ? &s->units[i] : NULL;
}

#define LOADED_PATH_PREFIX "/org/freedesktop/systemd1/loaded/"
#define JOB_PATH_PREFIX "/org/freedesktop/systemd1/job/"

/* The index behind path prefix+N, or -1. */
static long path_index(const char *path, const char *prefix, size_t n)
{
	char *end;
	unsigned long i;

	if (!path || strncmp(path, prefix, strlen(prefix)) != 0)
		return -1;
	i = strtoul(path + strlen(prefix), &end, 10);
	return *end == '\0' && i < n ? (long)i : -1;
}

static int handle_get_unit(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const struct fake_script *s = c->script;
	const char *unit;
	char path[128];
	int r;

	r = sd_bus_message_read(m, "s", &unit);
	if (r < 0) {
		child_error(c, "GetUnit arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	copy_str(call->arg0, sizeof(call->arg0), unit);
	if (s->get_unit_error)
		return sd_bus_reply_method_errorf(m, s->get_unit_error, "refused");
	for (size_t i = 0; i < s->n_loaded; i++)
		if (strcmp(s->loaded[i].name, unit) == 0) {
			(void)snprintf(path, sizeof(path), LOADED_PATH_PREFIX "%zu", i);
			return sd_bus_reply_method_return(m, "o", path);
		}
	return sd_bus_reply_method_errorf(m, "org.freedesktop.systemd1.NoSuchUnit",
					  "Unit %s not loaded.", unit);
}

/* ListJobs: the jobs queued on the loaded units, or get_unit_error. */
static int handle_list_jobs(struct child *c, sd_bus_message *m)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const struct fake_script *s = c->script;
	int r;

	if (s->get_unit_error)
		return sd_bus_reply_method_errorf(m, s->get_unit_error, "refused");
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(usssoo)");
	for (size_t i = 0; r >= 0 && i < s->n_loaded; i++) {
		char job[128], unit[128];

		if (!s->loaded[i].job_type)
			continue;
		(void)snprintf(job, sizeof(job), JOB_PATH_PREFIX "%zu", 100 + i);
		(void)snprintf(unit, sizeof(unit), LOADED_PATH_PREFIX "%zu", i);
		r = sd_bus_message_append(reply, "(usssoo)", (uint32_t)(100 + i), s->loaded[i].name,
					  s->loaded[i].job_type, "waiting", job, unit);
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r < 0)
		return r;
	return sd_bus_send(NULL, reply, NULL);
}

/* Unit.Job of a loaded unit, JobType of its job; 1 when answered. */
static int get_loaded_property(sd_bus_message *m, const struct fake_script *s, const char *iface,
			       const char *prop)
{
	const char *path = sd_bus_message_get_path(m);
	long i;

	i = path_index(path, LOADED_PATH_PREFIX, s->n_loaded);
	if (i >= 0 && strcmp(iface, "org.freedesktop.systemd1.Unit") == 0 &&
	    strcmp(prop, "Job") == 0) {
		char job[128];

		if (!s->loaded[i].job_type)
			return sd_bus_reply_method_return(m, "v", "(uo)", 0, "/");
		(void)snprintf(job, sizeof(job), JOB_PATH_PREFIX "%ld", 100 + i);
		return sd_bus_reply_method_return(m, "v", "(uo)", (uint32_t)(100 + i), job);
	}
	i = path_index(path, JOB_PATH_PREFIX, 100 + s->n_loaded);
	if (i >= 100 && strcmp(iface, "org.freedesktop.systemd1.Job") == 0 &&
	    strcmp(prop, "JobType") == 0 && s->loaded[i - 100].job_type)
		return sd_bus_reply_method_return(m, "v", "s", s->loaded[i - 100].job_type);
	return 0;
}

static int get_unit_property(sd_bus_message *m, const struct fake_unit *u, const char *prop)
{
	if (strcmp(prop, "Description") == 0)
		return sd_bus_reply_method_return(m, "v", "s",
						  u->description ? u->description : "");
	if (strcmp(prop, "ControlGroup") == 0)
		return sd_bus_reply_method_return(m, "v", "s", u->cgroup ? u->cgroup : "");
	if (strcmp(prop, "ActiveEnterTimestamp") == 0)
		return sd_bus_reply_method_return(m, "v", "t", u->since_usec);
	if (strcmp(prop, "RuntimeMaxUSec") == 0)
		return sd_bus_reply_method_return(m, "v", "t", u->runtime_max_usec);
	return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_PROPERTY, "unknown");
}

/* Joins the strings of an "as" argument with commas into buf. */
static int read_strv_joined(sd_bus_message *m, char *buf, size_t size)
{
	size_t used = 0;
	const char *v;
	int r;

	buf[0] = '\0';
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r > 0) {
		r = sd_bus_message_read(m, "s", &v);
		if (r > 0 && used < size)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? "," : "",
						 v);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	return r;
}

static int handle_list_units(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const struct fake_script *s = c->script;
	sd_bus_message *reply = NULL;
	char path[128];
	int r;

	r = read_strv_joined(m, call->arg1, sizeof(call->arg1));
	if (r >= 0)
		r = read_strv_joined(m, call->arg0, sizeof(call->arg0));
	if (r < 0) {
		child_error(c, "ListUnitsByPatterns arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	r = sd_bus_message_new_method_return(m, &reply);
	if (r >= 0)
		r = sd_bus_message_open_container(reply, 'a', "(ssssssouso)");
	for (size_t i = 0; r >= 0 && i < s->n_units; i++) {
		(void)snprintf(path, sizeof(path), UNIT_PATH_PREFIX "%zu", i);
		r = sd_bus_message_append(reply, "(ssssssouso)", s->units[i].name,
					  s->units[i].description ? s->units[i].description : "",
					  "loaded", "active", "running", "", path, 0, "", "/");
	}
	if (r >= 0)
		r = sd_bus_message_close_container(reply);
	if (r >= 0)
		r = sd_bus_send(NULL, reply, NULL);
	sd_bus_message_unref(reply);
	return r;
}

static int handle_stop(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const char *unit, *mode;
	int r;

	r = sd_bus_message_read(m, "ss", &unit, &mode);
	if (r < 0) {
		child_error(c, "StopUnit arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	copy_str(call->arg0, sizeof(call->arg0), unit);
	copy_str(call->arg1, sizeof(call->arg1), mode);
	if (c->script->stop_error)
		return sd_bus_reply_method_errorf(m, c->script->stop_error, "refused");
	return sd_bus_reply_method_return(m, "o", "/org/freedesktop/systemd1/job/7");
}

static int handle_get(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const struct fake_script *s = c->script;
	const char *iface, *prop;
	int r;

	r = sd_bus_message_read(m, "ss", &iface, &prop);
	if (r < 0) {
		child_error(c, "Get arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	copy_str(call->arg0, sizeof(call->arg0), iface);
	copy_str(call->arg1, sizeof(call->arg1), prop);

	if (strcmp(iface, MANAGER_IFACE) == 0 && strcmp(prop, "Version") == 0) {
		switch (s->version_mode) {
		case FAKE_VERSION_STRING:
			return sd_bus_reply_method_return(m, "v", "s",
							  s->version ? s->version : "");
		case FAKE_VERSION_ERROR:
			return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED, "no");
		case FAKE_VERSION_WRONG_TYPE:
			return sd_bus_reply_method_return(m, "v", "u", 252);
		case FAKE_VERSION_HANG:
			return 0;
		case FAKE_VERSION_DISCONNECT:
			c->quit = true;
			return 0;
		}
	}
	if (strcmp(iface, "org.freedesktop.systemd1.Unit") == 0 ||
	    strcmp(iface, "org.freedesktop.systemd1.Scope") == 0) {
		const struct fake_unit *u = unit_of_path(s, sd_bus_message_get_path(m));

		if (u)
			return get_unit_property(m, u, prop);
	}
	r = get_loaded_property(m, s, iface, prop);
	if (r != 0)
		return r;
	if (strcmp(iface, LOGIND_IFACE) == 0) {
		if (s->logind_mode != FAKE_LOGIND_OK && s->logind_bad &&
		    strcmp(prop, s->logind_bad) == 0) {
			if (s->logind_mode == FAKE_LOGIND_ERROR)
				return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED,
								  "no");
			if (s->logind_mode == FAKE_LOGIND_HANG)
				return 0;
			if (s->logind_mode == FAKE_LOGIND_DISCONNECT) {
				c->quit = true;
				return 0;
			}
			return sd_bus_reply_method_return(m, "v", "s", "yes");
		}
		if (strcmp(prop, "KillUserProcesses") == 0)
			return sd_bus_reply_method_return(m, "v", "b", (int)s->kill_user_processes);
		if (strcmp(prop, "KillOnlyUsers") == 0)
			return reply_strv(m, s->kill_only_users);
		if (strcmp(prop, "KillExcludeUsers") == 0)
			return reply_strv(m, s->kill_exclude_users);
	}
	return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_PROPERTY, "unknown");
}

static int handle_attach(struct child *c, sd_bus_message *m, struct fake_call *call)
{
	const char *unit, *sub;
	int r;

	r = sd_bus_message_read(m, "ss", &unit, &sub);
	if (r >= 0) {
		copy_str(call->arg0, sizeof(call->arg0), unit);
		copy_str(call->arg1, sizeof(call->arg1), sub);
		r = sd_bus_message_enter_container(m, 'a', "u");
	}
	while (r > 0) {
		uint32_t pid;

		r = sd_bus_message_read(m, "u", &pid);
		if (r > 0 && call->n_pids < FAKE_MAX_PIDS)
			call->pids[call->n_pids++] = pid;
	}
	if (r < 0) {
		child_error(c, "AttachProcessesToUnit arguments", r);
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_INVALID_ARGS, "unparsable");
	}
	for (size_t i = 0; c->script->attach_kill_pid && i < call->n_pids; i++)
		if (call->pids[i] == c->script->attach_kill_pid && !c->killed) {
			/* It exits while systemd checks the batch. */
			c->killed = true;
			(void)kill((pid_t)call->pids[i], SIGKILL);
			wait_dead((pid_t)call->pids[i]);
			remove_proc_dir(c->script->attach_kill_dir);
			return sd_bus_reply_method_errorf(
				m, "org.freedesktop.systemd1.NoSuchProcess",
				"Process with ID %" PRIu32 " does not exist.", call->pids[i]);
		}
	for (size_t i = 0; c->script->attach_gone_pid && i < call->n_pids; i++)
		if (call->pids[i] == c->script->attach_gone_pid)
			return sd_bus_reply_method_errorf(
				m,
				c->script->attach_gone_error ?
					c->script->attach_gone_error :
					"org.freedesktop.systemd1.NoSuchProcess",
				"Process with ID %" PRIu32 " does not exist.", call->pids[i]);
	switch (c->script->attach_mode) {
	case FAKE_VERSION_ERROR:
		return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED, "no");
	case FAKE_VERSION_HANG:
		return 0;
	default:
		return sd_bus_reply_method_return(m, "");
	}
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct child *c = userdata;
	struct fake_call scratch, *call;
	const char *member;
	int r;

	(void)ret_error;
	if (!sd_bus_message_is_method_call(m, NULL, NULL))
		return 0;

	member = sd_bus_message_get_member(m);
	c->rec->n_all_calls++;
	if (member && strcmp(member, "StartTransientUnit") == 0)
		c->rec->n_start_calls++;
	if (member && strcmp(member, "AttachProcessesToUnit") == 0)
		c->rec->n_attach_calls++;
	if (c->rec->n_calls < FAKE_MAX_CALLS) {
		call = &c->rec->calls[c->rec->n_calls++];
	} else {
		if (!c->script->many_calls)
			child_error(c, "too many calls", E2BIG);
		call = &scratch;
	}
	memset(call, 0, sizeof(*call));
	copy_str(call->member, sizeof(call->member), member);
	copy_str(call->interface, sizeof(call->interface), sd_bus_message_get_interface(m));
	copy_str(call->path, sizeof(call->path), sd_bus_message_get_path(m));
	copy_str(call->destination, sizeof(call->destination), sd_bus_message_get_destination(m));
	member = member ? member : "";

	if (c->script->broker_hang_hello) {
		/* A broker answers nothing before Hello. */
		r = 0;
	} else if (c->script->broker_no_manager &&
		   strcmp(call->destination, "org.freedesktop.systemd1") == 0) {
		/* dbus-daemon holds a call that may auto-start systemd1
		 * until PID 1 connects, however long that is. */
		r = sd_bus_message_get_auto_start(m) ? 0 : reply_no_owner(m);
	} else if (strcmp(member, "Hello") == 0) {
		r = sd_bus_reply_method_return(m, "s", CLIENT_UNIQUE);
	} else if (strcmp(member, "AddMatch") == 0) {
		const char *rule;

		r = sd_bus_message_read(m, "s", &rule);
		if (r >= 0)
			copy_str(call->arg0, sizeof(call->arg0), rule);
		r = sd_bus_reply_method_return(m, "");
	} else if (strcmp(member, "Subscribe") == 0) {
		r = sd_bus_reply_method_return(m, "");
	} else if (strcmp(member, "Get") == 0) {
		r = handle_get(c, m, call);
	} else if (strcmp(member, "StartTransientUnit") == 0) {
		r = handle_start(c, m, call);
	} else if (strcmp(member, "AttachProcessesToUnit") == 0) {
		r = handle_attach(c, m, call);
	} else if (strcmp(member, "ListUnitsByPatterns") == 0) {
		r = handle_list_units(c, m, call);
	} else if (strcmp(member, "GetUnit") == 0) {
		r = handle_get_unit(c, m, call);
	} else if (strcmp(member, "ListJobs") == 0) {
		r = handle_list_jobs(c, m);
	} else if (strcmp(member, "StopUnit") == 0) {
		r = handle_stop(c, m, call);
	} else {
		r = sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_METHOD, "unknown");
	}
	/* A reply that cannot be sent because the client left is fine. */
	if (r < 0 && r != -ENOTCONN && r != -ECONNRESET && r != -EPIPE)
		child_error(c, member, r);
	return 1;
}

static int serve(int fd, const struct fake_script *script, struct fake_record *rec)
{
	struct child c = { .script = script, .rec = rec };
	sd_id128_t id;
	int r;

	if (script->no_auth) {
		char buf[256];

		/* Swallow the client's SASL and never answer. */
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
		return 0;
	}

	r = sd_id128_randomize(&id);
	if (r >= 0)
		r = sd_bus_new(&c.bus);
	if (r < 0)
		return r;
	r = sd_bus_set_fd(c.bus, fd, fd);
	if (r >= 0)
		r = sd_bus_set_server(c.bus, 1, id);
	if (r >= 0)
		r = sd_bus_negotiate_fds(c.bus, 1);
	if (r >= 0)
		r = sd_bus_add_filter(c.bus, NULL, on_message, &c);
	/* Through a broker, every message carries the sender's unique name. */
	if (r >= 0 && script->broker)
		r = sd_bus_set_sender(c.bus, SYSTEMD_UNIQUE);
	if (r >= 0)
		r = sd_bus_start(c.bus);
	if (r < 0) {
		sd_bus_unref(c.bus);
		return r;
	}

	while (!c.quit) {
		r = sd_bus_process(c.bus, NULL);
		if (r < 0)
			break; /* the client closed: done */
		if (r > 0)
			continue;
		r = sd_bus_wait(c.bus, UINT64_MAX);
		if (r < 0)
			break;
	}
	if (c.quit)
		(void)sd_bus_flush(c.bus);
	sd_bus_close_unref(c.bus);
	return 0;
}

int fake_manager_start(struct fake_manager *fm, const struct fake_script *script, sd_bus **client)
{
	sd_bus *bus = NULL;
	int sv[2], r;

	memset(fm, 0, sizeof(*fm));
	*client = NULL;
	fm->rec = mmap(NULL, sizeof(*fm->rec), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);
	if (fm->rec == MAP_FAILED) {
		fm->rec = NULL;
		return -errno;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		fake_manager_free(fm);
		return r;
	}

	fm->pid = fork();
	if (fm->pid < 0) {
		r = -errno;
		close(sv[0]);
		close(sv[1]);
		fake_manager_free(fm);
		return r;
	}
	if (fm->pid == 0) {
		/* Never outlive a test that forgot us. */
		alarm(60);
		close(sv[0]);
		r = serve(sv[1], script, fm->rec);
		if (r < 0)
			child_error(&(struct child){ .rec = fm->rec }, "serve", r);
		_exit(fm->rec->error[0] ? 2 : 0);
	}
	close(sv[1]);

	r = sd_bus_new(&bus);
	if (r < 0) {
		close(sv[0]);
		goto fail;
	}
	r = sd_bus_set_fd(bus, sv[0], sv[0]);
	if (r < 0) {
		close(sv[0]);
		goto fail;
	}
	if (r >= 0 && script->broker)
		r = sd_bus_set_bus_client(bus, 1);
	if (r >= 0)
		r = sd_bus_negotiate_fds(bus, 1);
	if (r >= 0)
		r = sd_bus_start(bus);
	if (r < 0)
		goto fail;
	*client = bus;
	return 0;
fail:
	sd_bus_close_unref(bus);
	(void)fake_manager_stop(fm);
	fake_manager_free(fm);
	return r;
}

int fake_manager_stop(struct fake_manager *fm)
{
	struct timespec tick = { .tv_sec = 0, .tv_nsec = 10 * 1000 * 1000 };
	int status;

	if (fm->pid <= 0)
		return -1;
	for (int i = 0; i < 2000; i++) {
		pid_t p = waitpid(fm->pid, &status, WNOHANG);

		if (p == fm->pid) {
			fm->pid = 0;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		if (p < 0 && errno != EINTR)
			break;
		(void)nanosleep(&tick, NULL);
	}
	(void)kill(fm->pid, SIGKILL);
	(void)waitpid(fm->pid, &status, 0);
	fm->pid = 0;
	return -1;
}

void fake_manager_free(struct fake_manager *fm)
{
	if (fm->pid > 0)
		(void)fake_manager_stop(fm);
	if (fm->rec)
		(void)munmap(fm->rec, sizeof(*fm->rec));
	fm->rec = NULL;
}

const struct fake_call *fake_call_find(const struct fake_record *rec, const char *member,
				       size_t nth)
{
	for (size_t i = 0; i < rec->n_calls && i < FAKE_MAX_CALLS; i++)
		if (strcmp(rec->calls[i].member, member) == 0 && nth-- == 0)
			return &rec->calls[i];
	return NULL;
}

size_t fake_call_count(const struct fake_record *rec, const char *member)
{
	size_t n = 0;

	for (size_t i = 0; i < rec->n_calls && i < FAKE_MAX_CALLS; i++)
		if (strcmp(rec->calls[i].member, member) == 0)
			n++;
	return n;
}

const struct fake_property *fake_call_property(const struct fake_call *call, const char *name)
{
	for (size_t i = 0; i < call->n_props && i < FAKE_MAX_PROPS; i++)
		if (strcmp(call->props[i].name, name) == 0)
			return &call->props[i];
	return NULL;
}

int fake_count_fds(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own fd */
}
