/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What keepsession's commands share: messages, time spans, the
 * configuration as the module loads it, and logind's settings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "keepsession.h"
#include "ks_busget.h"
#include "ks_cleanup.h"
#include "ks_clock.h"
#include "ks_bus.h"
#include "ks_logind.h"

#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"

const char *const cmd_program_name = "keepsession";

int cmd_error(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd_program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

const char *cmd_paint(const struct opts *o, const char *color, const char *text, char *buf,
		      size_t size)
{
	if (!o->color)
		return text;
	(void)snprintf(buf, size, "\033[%sm%s\033[0m", color, text);
	return buf;
}

/* A time span as systemd writes one: "infinity", "0", "1d 2h", "90ms". */
void cmd_format_span(uint64_t usec, char *buf, size_t size)
{
	static const struct {
		const char *suffix;
		uint64_t usec;
	} units[] = {
		{ "d", 86400 * KS_USEC_PER_SEC },
		{ "h", 3600 * KS_USEC_PER_SEC },
		{ "min", 60 * KS_USEC_PER_SEC },
		{ "s", KS_USEC_PER_SEC },
		{ "ms", 1000 },
		{ "us", 1 },
	};
	size_t used = 0;
	int parts = 0;

	if (usec == UINT64_MAX) {
		(void)snprintf(buf, size, "infinity");
		return;
	}
	if (usec == 0) {
		(void)snprintf(buf, size, "0");
		return;
	}
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && usec > 0 && parts < 2; i++) {
		uint64_t n = usec / units[i].usec;
		int w;

		if (n == 0)
			continue;
		usec -= n * units[i].usec;
		w = snprintf(buf + used, size - used, "%s%llu%s", parts ? " " : "",
			     (unsigned long long)n, units[i].suffix);
		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
		parts++;
	}
}

void cmd_collect_sink(void *ctx, int priority, const char *message)
{
	if (priority <= LOG_WARNING)
		(void)ks_strlist_add(ctx, message, strlen(message));
}

enum ks_membership cmd_in_group(void *ctx, const struct ks_user *u, const char *group)
{
	(void)ctx;
	return ks_policy_membership(getgrnam(group), u);
}

/* The entry's strings live in getpwnam()'s buffer, until its next call. */
int cmd_lookup_user(void *ctx, const char *name, struct ks_user *u)
{
	const struct passwd *pw;

	(void)ctx;
	errno = 0;
	pw = getpwnam(name);
	if (!pw)
		return errno ? -errno : -ENOENT;
	*u = (struct ks_user){
		.name = pw->pw_name, .uid = pw->pw_uid, .gid = pw->pw_gid, .home = pw->pw_dir
	};
	return 0;
}

/* ---------------------------------------------------------------- config */

/* Splits module arguments at blanks, as libpam does (no brackets: none
 * of the module's options holds a blank). */
static int split_blanks(const char *args, struct ks_strlist *out)
{
	while (args && *args) {
		size_t n;

		args += strspn(args, " \t");
		n = strcspn(args, " \t");
		if (n > 0 && ks_strlist_add(out, args, n) < 0)
			return -ENOMEM;
		args += n;
	}
	return 0;
}

/*
 * The configuration as the module loads it: the file, then the module
 * arguments of its PAM line (module_args, may be NULL), through
 * ks_config_load() itself; --conf, when given, names the file. Problems
 * are collected one line each.
 */
int cmd_load_config(const struct opts *o, const char *module_args, struct ks_config *c,
		    struct ks_strlist *problems)
{
	const struct ks_log log = { .sink = cmd_collect_sink, .ctx = problems };
	struct ks_strlist args = { 0 };
	int r;

	r = ks_config_init(c);
	if (r >= 0)
		r = split_blanks(module_args, &args);
	if (r >= 0 && o->conf) {
		char conf_arg[PATH_MAX + 8];

		(void)snprintf(conf_arg, sizeof(conf_arg), "conf=%s", o->conf);
		r = ks_strlist_add(&args, conf_arg, strlen(conf_arg));
	}
	if (r >= 0)
		r = ks_config_load(c, (int)args.n, (const char **)args.v, 0, &log);
	ks_strlist_clear(&args);
	return r < 0 ? r : 0;
}

/* The pam_keepsession.so line of a service's session stack, to load the
 * configuration with its arguments as the module does there. */
int cmd_service_line(const struct opts *o, const char *service, struct ks_pamstack *stack,
		     const struct ks_pam_line **line)
{
	*line = NULL;
	if (ks_pamstack_resolve(o->pam_d, service, stack, NULL) < 0)
		return -ENOENT;
	*line = ks_pamstack_find(stack, "pam_keepsession.so");
	return *line ? 0 : -ENOENT;
}

void cmd_logind_read(struct logind_settings *s)
{
	_cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
	uint64_t deadline = ks_now_usec() + BUS_BOUND_USEC;
	int r, b;

	*s = (struct logind_settings){ .remove_ipc = -1 };
	r = ks_bus_open_system(&bus);
	if (r >= 0)
		r = ks_logind_kill_settings(bus, deadline, &s->kill_user_processes,
					    &s->kill_only_users, &s->kill_exclude_users);
	if (r < 0) {
		(void)snprintf(s->error, sizeof(s->error), "%s", strerror(-r));
		return;
	}
	s->known = true;
	/* Newer settings: logind versions without them just do not say. */
	s->stop_idle_known =
		ks_bus_get_u64(bus, deadline, LOGIND_SERVICE, LOGIND_PATH, LOGIND_IFACE,
			       "StopIdleSessionUSec", &s->stop_idle_session_usec) >= 0;
	s->user_stop_delay_known =
		ks_bus_get_u64(bus, deadline, LOGIND_SERVICE, LOGIND_PATH, LOGIND_IFACE,
			       "UserStopDelayUSec", &s->user_stop_delay_usec) >= 0;
	if (ks_bus_get_bool(bus, deadline, LOGIND_SERVICE, LOGIND_PATH, LOGIND_IFACE, "RemoveIPC",
			    &b) >= 0)
		s->remove_ipc = b != 0;
}

void cmd_logind_free(struct logind_settings *s)
{
	ks_strlist_clear(&s->kill_only_users);
	ks_strlist_clear(&s->kill_exclude_users);
}

void cmd_join(const struct ks_strlist *l, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		int w = snprintf(buf + used, size - used, "%s%s", i ? " " : "", l->v[i]);

		if (w < 0 || (size_t)w >= size - used)
			return;
		used += (size_t)w;
	}
}

void cmd_json_list(struct ks_json *j, const char *key, const struct ks_strlist *l)
{
	ks_json_open(j, key, '[');
	for (size_t i = 0; i < l->n; i++)
		ks_json_str(j, NULL, l->v[i]);
	ks_json_close(j, ']');
}
