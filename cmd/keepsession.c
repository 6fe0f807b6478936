/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession(1): will my tmux survive the logout, and why did it die?
 * Reads what the module reads (the configuration, ~/.keepsession, the
 * session's processes, logind's and systemd's state) and changes nothing,
 * except `release`, which stops kept scopes.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "ks_busget.h"
#include "ks_config.h"
#include "ks_eligibility.h"
#include "ks_explain.h"
#include "ks_json.h"
#include "ks_kept.h"
#include "ks_bus.h"
#include "ks_logind.h"
#include "ks_mover.h"
#include "ks_optin.h"
#include "ks_optin_fork.h"
#include "ks_pamstack.h"
#include "ks_policy.h"
#include "ks_proctree.h"
#include "ks_unitname.h"

/* The Makefile passes the package's version. */
#ifndef KS_VERSION
#define KS_VERSION "unknown"
#endif

#define EXIT_PROBLEM 1
#define EXIT_USAGE 2
#define EXIT_NOT_KEPT 3 /* like systemctl is-active */

/* Every bus conversation of one command is bounded by this. */
#define BUS_BOUND_USEC (10 * KS_USEC_PER_SEC)
#define MAX_GROUPS 4096

#define LOGIND_SERVICE "org.freedesktop.login1"
#define LOGIND_PATH "/org/freedesktop/login1"
#define LOGIND_IFACE "org.freedesktop.login1.Manager"

static const char *const unit_dirs[] = {
	"/etc/systemd/system",     "/run/systemd/system", "/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system", "/lib/systemd/system",
};

struct opts {
	bool json;
	bool color;
	const char *pam_d;
	const char *conf;    /* --conf, or NULL: the module's own choice */
	const char *service; /* whose module arguments status applies */
};

static const char *program_name = "keepsession";

/* One clear line on stderr; returns the exit code to use. */
static int error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int error(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", program_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static const char *paint(const struct opts *o, const char *color, const char *text, char *buf,
			 size_t size)
{
	if (!o->color)
		return text;
	(void)snprintf(buf, size, "\033[%sm%s\033[0m", color, text);
	return buf;
}

#define GOOD(o, t) paint(o, "1;32", t, (char[64]){ 0 }, 64)
#define BAD(o, t) paint(o, "1;31", t, (char[64]){ 0 }, 64)

/* A time span as systemd writes one: "infinity", "0", "1d 2h", "90ms". */
static void format_span(uint64_t usec, char *buf, size_t size)
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

static void collect_sink(void *ctx, int priority, const char *message)
{
	if (priority <= LOG_WARNING)
		(void)ks_strlist_add(ctx, message, strlen(message));
}

static enum ks_membership in_group(void *ctx, const struct ks_user *u, const char *group)
{
	(void)ctx;
	return ks_policy_membership(getgrnam(group), u);
}

/* The entry's strings live in getpwnam()'s buffer, until its next call. */
static int lookup_user(void *ctx, const char *name, struct ks_user *u)
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
static int load_config(const struct opts *o, const char *module_args, struct ks_config *c,
		       struct ks_strlist *problems)
{
	const struct ks_log log = { .sink = collect_sink, .ctx = problems };
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
static int service_line(const struct opts *o, const char *service, struct ks_pamstack *stack,
			const struct ks_pam_line **line)
{
	*line = NULL;
	if (ks_pamstack_resolve(o->pam_d, service, stack, NULL) < 0)
		return -ENOENT;
	*line = ks_pamstack_find(stack, "pam_keepsession.so");
	return *line ? 0 : -ENOENT;
}

/* ----------------------------------------------------------------- check */

struct service_verdict {
	char *name;
	enum ks_placement placement;
	struct ks_pam_line keep, systemd; /* copies of the lines found (fields borrowed) */
	struct ks_pamstack stack;
	struct ks_strlist problems;
};

static int no_dots(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

struct logind_settings {
	bool known;
	bool kill_user_processes;
	struct ks_strlist kill_only_users, kill_exclude_users;
	uint64_t stop_idle_session_usec; /* UINT64_MAX: infinity */
	bool stop_idle_known;
	uint64_t user_stop_delay_usec;
	bool user_stop_delay_known;
	int remove_ipc; /* -1: unknown */
	char error[128];
};

static void logind_read(struct logind_settings *s)
{
	sd_bus *bus = NULL;
	uint64_t deadline = ks_now_usec() + BUS_BOUND_USEC;
	int r, b;

	*s = (struct logind_settings){ .remove_ipc = -1 };
	r = ks_bus_open_system(&bus);
	if (r >= 0)
		r = ks_logind_kill_settings(bus, deadline, &s->kill_user_processes,
					    &s->kill_only_users, &s->kill_exclude_users);
	if (r < 0) {
		(void)snprintf(s->error, sizeof(s->error), "%s", strerror(-r));
		sd_bus_flush_close_unref(bus);
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
	sd_bus_flush_close_unref(bus);
}

static void logind_free(struct logind_settings *s)
{
	ks_strlist_clear(&s->kill_only_users);
	ks_strlist_clear(&s->kill_exclude_users);
}

static void join(const struct ks_strlist *l, char *buf, size_t size)
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

static void json_list(struct ks_json *j, const char *key, const struct ks_strlist *l)
{
	ks_json_open(j, key, '[');
	for (size_t i = 0; i < l->n; i++)
		ks_json_str(j, NULL, l->v[i]);
	ks_json_close(j, ']');
}

struct guard_state {
	char unit[PATH_MAX]; /* "" if not found */
	char dropin[PATH_MAX];
};

static void guard_find(struct guard_state *g)
{
	*g = (struct guard_state){ 0 };
	for (size_t i = 0; i < sizeof(unit_dirs) / sizeof(unit_dirs[0]); i++) {
		char path[PATH_MAX];
		struct stat st;

		(void)snprintf(path, sizeof(path), "%s/keepsession-guard@.service", unit_dirs[i]);
		if (!g->unit[0] && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			(void)snprintf(g->unit, sizeof(g->unit), "%s", path);
		(void)snprintf(path, sizeof(path), "%s/session-.scope.d/keepsession-guard.conf",
			       unit_dirs[i]);
		if (!g->dropin[0] && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			(void)snprintf(g->dropin, sizeof(g->dropin), "%s", path);
	}
}

static int resolve_services(const struct opts *o, struct service_verdict **out, size_t *n_out,
			    struct ks_strlist *problems)
{
	struct dirent **names = NULL;
	struct service_verdict *v = NULL;
	size_t n = 0;
	int count;

	count = scandir(o->pam_d, &names, no_dots, alphasort);
	if (count < 0) {
		char line[PATH_MAX + 64];

		(void)snprintf(line, sizeof(line), "%s: cannot read: %s", o->pam_d,
			       strerror(errno));
		return ks_strlist_add(problems, line, strlen(line));
	}
	for (int i = 0; i < count; i++) {
		struct service_verdict sv = { 0 };
		const struct ks_log log = { .sink = collect_sink, .ctx = &sv.problems };
		const struct ks_pam_line *keep, *systemd;
		struct service_verdict *grown;

		if (ks_pamstack_resolve(o->pam_d, names[i]->d_name, &sv.stack, &log) < 0 ||
		    !ks_pamstack_find(&sv.stack, "pam_keepsession.so")) {
			ks_pamstack_free(&sv.stack);
			ks_strlist_clear(&sv.problems);
			continue;
		}
		sv.placement = ks_pamstack_placement(&sv.stack, &keep, &systemd);
		sv.keep = *keep;
		if (systemd)
			sv.systemd = *systemd;
		sv.name = strdup(names[i]->d_name);
		grown = realloc(v, (n + 1) * sizeof(*v));
		if (!sv.name || !grown) {
			free(sv.name);
			ks_pamstack_free(&sv.stack);
			ks_strlist_clear(&sv.problems);
			if (grown)
				v = grown;
			continue;
		}
		v = grown;
		v[n++] = sv;
	}
	for (int i = 0; i < count; i++)
		free(names[i]);
	free(names);
	*out = v;
	*n_out = n;
	return 0;
}

static void add_problem(struct ks_strlist *problems, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_problem(struct ks_strlist *problems, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	(void)ks_strlist_add(problems, line, strlen(line));
}

static const char *placement_name(enum ks_placement p)
{
	switch (p) {
	case KS_PLACEMENT_OK:
		return "ok";
	case KS_PLACEMENT_AFTER:
		return "after-pam_systemd";
	case KS_PLACEMENT_NO_SYSTEMD:
		return "no-pam_systemd";
	case KS_PLACEMENT_ABSENT:
	default:
		return "absent";
	}
}

static void span_or(bool known, uint64_t usec, char *buf, size_t size)
{
	if (known)
		format_span(usec, buf, size);
	else
		(void)snprintf(buf, size, "n/a");
}

static void check_json(const struct opts *o, const struct service_verdict *v, size_t n,
		       const struct ks_strlist *conf_problems, const struct logind_settings *ls,
		       const struct guard_state *g, const struct ks_strlist *problems)
{
	struct ks_json j;

	ks_json_init(&j, stdout);
	ks_json_open(&j, NULL, '{');
	ks_json_bool(&j, "ok", problems->n == 0);
	ks_json_str(&j, "pam_dir", o->pam_d);
	ks_json_open(&j, "services", '[');
	for (size_t i = 0; i < n; i++) {
		ks_json_open(&j, NULL, '{');
		ks_json_str(&j, "service", v[i].name);
		ks_json_str(&j, "placement", placement_name(v[i].placement));
		ks_json_open(&j, "pam_keepsession", '{');
		ks_json_str(&j, "file", v[i].keep.file);
		ks_json_uint(&j, "line", v[i].keep.line);
		ks_json_close(&j, '}');
		if (v[i].systemd.file) {
			ks_json_open(&j, "pam_systemd", '{');
			ks_json_str(&j, "file", v[i].systemd.file);
			ks_json_uint(&j, "line", v[i].systemd.line);
			ks_json_str(&j, "via_file", v[i].systemd.top_file);
			ks_json_uint(&j, "via_line", v[i].systemd.top_line);
			ks_json_close(&j, '}');
		} else {
			ks_json_null(&j, "pam_systemd");
		}
		json_list(&j, "problems", &v[i].problems);
		ks_json_close(&j, '}');
	}
	ks_json_close(&j, ']');
	ks_json_open(&j, "config", '{');
	ks_json_str(&j, "file", o->conf ? o->conf : KS_DEFAULT_CONF);
	json_list(&j, "problems", conf_problems);
	ks_json_close(&j, '}');
	if (ls->known) {
		ks_json_open(&j, "logind", '{');
		ks_json_bool(&j, "KillUserProcesses", ls->kill_user_processes);
		json_list(&j, "KillOnlyUsers", &ls->kill_only_users);
		json_list(&j, "KillExcludeUsers", &ls->kill_exclude_users);
		if (ls->stop_idle_known)
			ks_json_uint(&j, "StopIdleSessionUSec", ls->stop_idle_session_usec);
		else
			ks_json_null(&j, "StopIdleSessionUSec");
		if (ls->user_stop_delay_known)
			ks_json_uint(&j, "UserStopDelayUSec", ls->user_stop_delay_usec);
		else
			ks_json_null(&j, "UserStopDelayUSec");
		if (ls->remove_ipc >= 0)
			ks_json_bool(&j, "RemoveIPC", ls->remove_ipc);
		else
			ks_json_null(&j, "RemoveIPC");
		ks_json_close(&j, '}');
	} else {
		ks_json_null(&j, "logind");
	}
	ks_json_open(&j, "guard", '{');
	ks_json_bool(&j, "installed", g->unit[0] && g->dropin[0]);
	ks_json_str(&j, "unit", g->unit[0] ? g->unit : NULL);
	ks_json_str(&j, "dropin", g->dropin[0] ? g->dropin : NULL);
	ks_json_close(&j, '}');
	json_list(&j, "problems", problems);
	ks_json_close(&j, '}');
}

static void logind_human(const struct opts *o, const struct logind_settings *ls)
{
	char idle[64], delay[64], users[256];

	if (!ls->known) {
		printf("logind: %s (%s)\n", BAD(o, "unknown"), ls->error);
		return;
	}
	join(&ls->kill_exclude_users, users, sizeof(users));
	printf("logind: KillUserProcesses=%s KillExcludeUsers=%s\n",
	       ls->kill_user_processes ? "yes" : "no", users);
	join(&ls->kill_only_users, users, sizeof(users));
	span_or(ls->stop_idle_known, ls->stop_idle_session_usec, idle, sizeof(idle));
	printf("        KillOnlyUsers=%s StopIdleSessionSec=%s\n", users, idle);
	span_or(ls->user_stop_delay_known, ls->user_stop_delay_usec, delay, sizeof(delay));
	printf("        UserStopDelaySec=%s RemoveIPC=%s\n", delay,
	       ls->remove_ipc < 0 ? "n/a" :
	       ls->remove_ipc     ? "yes" :
				    "no");
}

static void check_human(const struct opts *o, const struct service_verdict *v, size_t n,
			const struct ks_strlist *conf_problems, const struct logind_settings *ls,
			const struct guard_state *g, const struct ks_strlist *problems)
{
	printf("PAM services that load pam_keepsession.so (%s):\n", o->pam_d);
	if (n == 0)
		printf("  none\n");
	for (size_t i = 0; i < n; i++) {
		const struct service_verdict *s = &v[i];

		if (s->placement == KS_PLACEMENT_OK)
			printf("  %s: %s, %s:%u\n    before pam_systemd.so from %s:%u\n", s->name,
			       GOOD(o, "ok"), s->keep.file, s->keep.line, s->systemd.top_file,
			       s->systemd.top_line);
		else if (s->placement == KS_PLACEMENT_AFTER)
			printf("  %s: %s, %s:%u\n    after pam_systemd.so from %s:%u\n", s->name,
			       BAD(o, "misplaced"), s->keep.file, s->keep.line, s->systemd.top_file,
			       s->systemd.top_line);
		else
			printf("  %s: no pam_systemd.so in the stack, %s:%u has nothing to keep\n",
			       s->name, s->keep.file, s->keep.line);
	}
	printf("configuration %s: %s\n", o->conf ? o->conf : KS_DEFAULT_CONF,
	       conf_problems->n ? BAD(o, "problems") : GOOD(o, "ok"));
	logind_human(o, ls);
	if (g->unit[0] && g->dropin[0])
		printf("stop guard: installed (%s)\n", g->unit);
	else if (g->unit[0] || g->dropin[0])
		printf("stop guard: %s\n", BAD(o, "half installed"));
	else
		printf("stop guard: not installed\n");
	for (size_t i = 0; i < problems->n; i++)
		printf("problem: %s\n", problems->v[i]);
}

/* The service's module arguments, loaded as the module does on top of
 * the file: what goes wrong there and not with the file alone is the
 * line's problem, named by its file:line. */
static void args_problems(const struct opts *o, struct service_verdict *sv,
			  const struct ks_strlist *file_problems)
{
	struct ks_strlist problems = { 0 };
	struct ks_config c;

	if (!sv->keep.args || !sv->keep.args[0])
		return;
	if (load_config(o, sv->keep.args, &c, &problems) >= 0)
		for (size_t i = 0; i < problems.n; i++)
			if (!ks_strlist_contains(file_problems, problems.v[i]))
				add_problem(&sv->problems, "%s:%u: %s", sv->keep.file,
					    sv->keep.line, problems.v[i]);
	ks_config_free(&c);
	ks_strlist_clear(&problems);
}

static int cmd_check(const struct opts *o)
{
	struct ks_strlist problems = { 0 }, conf_problems = { 0 };
	struct service_verdict *v = NULL;
	struct logind_settings ls;
	struct guard_state g;
	struct ks_config c;
	size_t n = 0;
	int r;

	/* The configuration first: its problems come after PAM's, but an
	 * out-of-memory here is the only way this command gives up. */
	if (load_config(o, NULL, &c, &conf_problems) < 0) {
		ks_strlist_clear(&conf_problems);
		return error(EXIT_PROBLEM, "out of memory");
	}
	ks_config_free(&c);
	r = resolve_services(o, &v, &n, &problems);
	if (r < 0) {
		ks_strlist_clear(&conf_problems);
		return error(EXIT_PROBLEM, "out of memory");
	}
	if (n == 0 && problems.n == 0)
		add_problem(&problems, "no PAM service in %s loads pam_keepsession.so", o->pam_d);
	for (size_t i = 0; i < n; i++) {
		const struct service_verdict *s = &v[i];

		if (s->placement == KS_PLACEMENT_AFTER)
			add_problem(&problems,
				    "%s:%u: pam_keepsession.so comes after %s:%u, which brings in "
				    "pam_systemd.so (%s:%u): move it above that line",
				    s->keep.file, s->keep.line, s->systemd.top_file,
				    s->systemd.top_line, s->systemd.file, s->systemd.line);
		args_problems(o, &v[i], &conf_problems);
		for (size_t k = 0; k < s->problems.n; k++)
			add_problem(&problems, "%s", s->problems.v[k]);
	}

	for (size_t i = 0; i < conf_problems.n; i++)
		add_problem(&problems, "%s", conf_problems.v[i]);

	logind_read(&ls);
	if (!ls.known)
		add_problem(&problems, "cannot read logind's settings: %s", ls.error);

	guard_find(&g);
	if (!g.unit[0] != !g.dropin[0])
		add_problem(&problems, "stop guard half installed: %s found, %s missing",
			    g.unit[0] ? g.unit : g.dropin,
			    g.unit[0] ? "session-.scope.d/keepsession-guard.conf" :
					"keepsession-guard@.service");

	if (o->json)
		check_json(o, v, n, &conf_problems, &ls, &g, &problems);
	else
		check_human(o, v, n, &conf_problems, &ls, &g, &problems);

	r = problems.n ? EXIT_PROBLEM : 0;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		ks_pamstack_free(&v[i].stack);
		ks_strlist_clear(&v[i].problems);
	}
	free(v);
	logind_free(&ls);
	ks_strlist_clear(&problems);
	ks_strlist_clear(&conf_problems);
	return r;
}

/* ---------------------------------------------------------------- status */

struct session_view {
	char *id;
	char *service;
	char cgroup[PATH_MAX];
	struct ks_selection sel;
	int error; /* why nothing could be read, or 0 */
};

static void reason_text(const struct ks_explanation *e, const struct ks_config *c, char *buf,
			size_t size)
{
	switch (e->reason) {
	case KS_REASON_DENIED:
		(void)snprintf(buf, size, "denied: deny = %s matches", e->entry);
		break;
	case KS_REASON_LISTED:
		(void)snprintf(buf, size, "listed in users");
		break;
	case KS_REASON_GROUP:
		(void)snprintf(buf, size, "member of %s, listed in users", e->entry);
		break;
	case KS_REASON_ALL:
		(void)snprintf(buf, size, "users = * lists everyone");
		break;
	case KS_REASON_OPTED_IN:
		(void)snprintf(buf, size, "opted in with ~/%s", KS_OPTIN_FILE);
		break;
	case KS_REASON_NOT_OPTED_IN:
		(void)snprintf(buf, size, "not opted in: no ~/%s", KS_OPTIN_FILE);
		break;
	case KS_REASON_OPTIN_REFUSED:
		(void)snprintf(buf, size, "~/%s ignored: %s", KS_OPTIN_FILE,
			       e->optin_problems.n ? e->optin_problems.v[0] : "unusable");
		break;
	case KS_REASON_NO_PROGRAMS:
		(void)snprintf(buf, size, "~/%s names none of the programs the admin allows",
			       KS_OPTIN_FILE);
		break;
	case KS_REASON_OPTIN_OFF:
	default:
		(void)snprintf(buf, size, "not listed in users, and optin = %s",
			       c->optin ? "yes" : "no");
		break;
	}
}

static void sessions_read(uid_t uid, const struct ks_strlist *programs, struct session_view **out,
			  size_t *n_out)
{
	char cgroup_root[PATH_MAX];
	enum ks_cgroup_mode mode;
	char **ids = NULL;
	struct session_view *v;
	int n, r;

	*out = NULL;
	*n_out = 0;
	n = sd_uid_get_sessions(uid, 0, &ids);
	if (n <= 0)
		return;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		goto out;
	r = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, cgroup_root, sizeof(cgroup_root));
	for (int i = 0; i < n; i++) {
		v[i].id = ids[i];
		ids[i] = NULL;
		(void)sd_session_get_service(v[i].id, &v[i].service);
		if (r < 0)
			v[i].error = r;
		else
			v[i].error = ks_dry_run("/proc", cgroup_root, uid, v[i].id, programs,
						&v[i].sel, v[i].cgroup, sizeof(v[i].cgroup));
	}
	*out = v;
	*n_out = (size_t)n;
out:
	for (int i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static void sessions_free(struct session_view *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].service);
		ks_selection_free(&v[i].sel);
	}
	free(v);
}

static const char *base_name(const char *s)
{
	const char *slash = strrchr(s, '/');

	return slash ? slash + 1 : s;
}

struct status_report {
	const char *name;
	uid_t uid;
	const struct ks_explanation *e;
	const char *reason;
	const struct logind_settings *ls;
	bool kills, survives;
	const struct ks_strlist *conf_problems;
	const struct session_view *sessions;
	size_t n_sessions;
	const struct ks_pam_line *line; /* the module's line in --service, or NULL */
};

static void status_json(const struct status_report *r)
{
	struct ks_json j;

	ks_json_init(&j, stdout);
	ks_json_open(&j, NULL, '{');
	ks_json_str(&j, "user", r->name);
	ks_json_uint(&j, "uid", r->uid);
	ks_json_bool(&j, "kept", r->e->kept);
	ks_json_bool(&j, "survives_logout", r->survives);
	ks_json_str(&j, "reason", ks_reason_name(r->e->reason));
	ks_json_str(&j, "why", r->reason);
	json_list(&j, "programs", &r->e->programs);
	json_list(&j, "optin_problems", &r->e->optin_problems);
	json_list(&j, "config_problems", r->conf_problems);
	if (r->line) {
		ks_json_open(&j, "pam_line", '{');
		ks_json_str(&j, "file", r->line->file);
		ks_json_uint(&j, "line", r->line->line);
		ks_json_str(&j, "args", r->line->args);
		ks_json_close(&j, '}');
	} else {
		ks_json_null(&j, "pam_line");
	}
	if (r->ls->known)
		ks_json_bool(&j, "logind_kills", r->kills);
	else
		ks_json_null(&j, "logind_kills");
	ks_json_open(&j, "sessions", '[');
	for (size_t i = 0; i < r->n_sessions; i++) {
		const struct session_view *s = &r->sessions[i];

		ks_json_open(&j, NULL, '{');
		ks_json_str(&j, "id", s->id);
		ks_json_str(&j, "service", s->service);
		ks_json_str(&j, "cgroup", s->cgroup);
		if (s->error)
			ks_json_str(&j, "error", strerror(-s->error));
		ks_json_open(&j, "would_keep", '[');
		for (size_t t = 0; t < s->sel.n; t++) {
			ks_json_open(&j, NULL, '{');
			ks_json_str(&j, "program", base_name(s->sel.trees[t].program));
			ks_json_int(&j, "pid", s->sel.trees[t].procs[0].pid);
			ks_json_uint(&j, "processes", s->sel.trees[t].n);
			ks_json_close(&j, '}');
		}
		ks_json_close(&j, ']');
		ks_json_close(&j, '}');
	}
	ks_json_close(&j, ']');
	ks_json_close(&j, '}');
}

static void status_session_human(const struct session_view *s, bool kept)
{
	printf("  session %s (%s):", s->id, s->service ? s->service : "?");
	if (s->error) {
		printf(" cannot read its processes: %s\n", strerror(-s->error));
		return;
	}
	if (!kept || s->sel.n == 0) {
		printf(" nothing would be kept\n");
		return;
	}
	printf(" would keep\n");
	for (size_t t = 0; t < s->sel.n; t++)
		printf("    %s, pid %d, %zu process%s\n", base_name(s->sel.trees[t].program),
		       (int)s->sel.trees[t].procs[0].pid, s->sel.trees[t].n,
		       s->sel.trees[t].n == 1 ? "" : "es");
}

static void status_human(const struct opts *o, const struct status_report *r)
{
	const struct ks_explanation *e = r->e;
	char list[512];

	if (e->kept)
		printf("%s: %s at logout: %s\n", r->name, GOOD(o, "kept"), r->reason);
	else if (!r->kills)
		printf("%s: not kept by pam_keepsession (%s),\n  but logind does not "
		       "kill %s's processes at logout\n",
		       r->name, r->reason, r->name);
	else
		printf("%s: %s at logout: %s\n", r->name, BAD(o, "not kept"), r->reason);
	for (size_t i = 0; i < e->optin_problems.n; i++)
		printf("  %s\n", e->optin_problems.v[i]);
	join(&e->programs, list, sizeof(list));
	if (e->kept)
		printf("  programs kept: %s\n", list);
	if (!r->ls->known)
		printf("  logind: %s (%s)\n", BAD(o, "unknown"), r->ls->error);
	else
		printf("  logind: %s at logout\n",
		       r->kills ? "kills the session's processes" : "kills nothing");
	if (r->line && r->line->args[0])
		printf("  module arguments (%s:%u): %s\n", r->line->file, r->line->line,
		       r->line->args);
	for (size_t i = 0; i < r->conf_problems->n; i++)
		printf("  configuration: %s\n", r->conf_problems->v[i]);
	for (size_t i = 0; i < r->n_sessions; i++)
		status_session_human(&r->sessions[i], e->kept);
	if (r->n_sessions == 0)
		printf("  no open session\n");
}

static int cmd_status(const struct opts *o, const char *who)
{
	struct ks_strlist conf_problems = { 0 };
	struct ks_explanation e;
	struct session_view *sessions = NULL;
	struct logind_settings ls;
	const struct passwd *pw;
	struct ks_config c;
	size_t n_sessions = 0;
	bool kills, survives;
	char reason[600];
	char *name;
	uid_t uid;
	struct ks_pamstack stack = { 0 };
	const struct ks_pam_line *line = NULL;
	int r;

	pw = who ? getpwnam(who) : getpwuid(getuid());
	if (!pw)
		return who ? error(EXIT_PROBLEM, "no such user: %s", who) :
			     error(EXIT_PROBLEM, "cannot look up uid %u", (unsigned)getuid());
	uid = pw->pw_uid;
	if (getuid() != 0 && uid != getuid())
		return error(EXIT_PROBLEM, "only root may ask about another user (%s)",
			     pw->pw_name);
	name = strdup(pw->pw_name);
	if (!name)
		return error(EXIT_PROBLEM, "out of memory");
	(void)service_line(o, o->service, &stack, &line);
	if (load_config(o, line ? line->args : NULL, &c, &conf_problems) < 0) {
		free(name);
		ks_pamstack_free(&stack);
		ks_strlist_clear(&conf_problems);
		return error(EXIT_PROBLEM, "out of memory");
	}
	/* The module's reader: a child with the user's ids (root asking
	 * about someone), or as the caller (a user about themselves),
	 * bounded by a share of timeout as in the module. */
	{
		const struct ks_optin_fork reader = { .timeout_usec = c.timeout_usec };
		const struct ks_eligibility_io io = {
			.lookup_user = lookup_user,
			.in_group = in_group,
			.read_optin = ks_optin_read_forked,
			.optin_ctx = (void *)&reader,
		};

		r = ks_explain(&c, name, &io, &e);
	}
	if (r < 0) {
		r = error(EXIT_PROBLEM, "%s", e.problems.n ? e.problems.v[0] : strerror(-r));
		ks_explanation_free(&e);
		free(name);
		ks_config_free(&c);
		ks_pamstack_free(&stack);
		ks_strlist_clear(&conf_problems);
		return r;
	}
	logind_read(&ls);
	kills = !ls.known || ks_policy_logind_kills(e.name, ls.kill_user_processes,
						    &ls.kill_only_users, &ls.kill_exclude_users);
	sessions_read(uid, &e.programs, &sessions, &n_sessions);
	survives = e.kept || !kills;
	reason_text(&e, &c, reason, sizeof(reason));

	{
		const struct status_report rep = {
			.name = e.name,
			.uid = uid,
			.e = &e,
			.reason = reason,
			.ls = &ls,
			.kills = kills,
			.survives = survives,
			.conf_problems = &conf_problems,
			.sessions = sessions,
			.n_sessions = n_sessions,
			.line = line,
		};

		if (o->json)
			status_json(&rep);
		else
			status_human(o, &rep);
	}

	sessions_free(sessions, n_sessions);
	logind_free(&ls);
	ks_explanation_free(&e);
	ks_strlist_clear(&conf_problems);
	ks_config_free(&c);
	ks_pamstack_free(&stack);
	free(name);
	return survives ? 0 : EXIT_NOT_KEPT;
}

/* ------------------------------------------------------------ list, release */

/* The uid of user, or (uid_t)-1 when it has no passwd entry. */
static uid_t uid_of_user(const char *user)
{
	const struct passwd *pw = getpwnam(user);

	return pw ? pw->pw_uid : (uid_t)-1;
}

/* By the unit name, which holds the user escaped; the Description is
 * display text (sanitized, cut short). A name cut short that only the
 * slice could tell, and does not, is left out with one line saying so. */
static bool scope_of_user(const struct ks_kept_scope *s, const char *user, uid_t uid)
{
	switch (ks_kept_scope_owner(s, user, uid)) {
	case KS_KEPT_OWNED:
		return true;
	case KS_KEPT_OWNED_UNSURE:
		(void)error(0,
			    "%s: not taken as %s's: its name may be cut short from a longer "
			    "user name, and it is not in %s's user-UID.slice",
			    s->unit, user, user);
		return false;
	default:
		return false;
	}
}

static int list_scopes(struct ks_kept_list *l, bool manager)
{
	sd_bus *bus = NULL;
	int r;

	r = manager ? ks_bus_open_manager(&bus) : ks_bus_open_system(&bus);
	if (r < 0)
		return r;
	r = ks_kept_list(bus, ks_now_usec() + BUS_BOUND_USEC, l);
	sd_bus_flush_close_unref(bus);
	return r;
}

static void format_when(uint64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / KS_USEC_PER_SEC);
	struct tm tm;

	if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
		(void)snprintf(buf, size, "-");
}

static void time_left(const struct ks_kept_scope *s, uint64_t now, char *buf, size_t size,
		      uint64_t *left)
{
	*left = UINT64_MAX;
	if (s->runtime_max_usec == UINT64_MAX || s->since_usec == 0) {
		(void)snprintf(buf, size, "-");
		return;
	}
	*left = s->since_usec + s->runtime_max_usec > now ?
			s->since_usec + s->runtime_max_usec - now :
			0;
	/* Whole seconds are enough for a listing. */
	format_span(*left - *left % KS_USEC_PER_SEC, buf, size);
}

static int cmd_list(const struct opts *o, const char *user)
{
	char cgroup_root[PATH_MAX], since[32], left[32];
	struct ks_kept_list l;
	enum ks_cgroup_mode mode;
	struct timespec ts;
	uint64_t now, left_usec;
	bool have_root;
	size_t shown = 0;
	struct ks_json j;
	uid_t uid = user ? uid_of_user(user) : (uid_t)-1;
	int r;

	r = list_scopes(&l, false);
	if (r < 0)
		return error(EXIT_PROBLEM, "cannot list the kept scopes from systemd: %s",
			     strerror(-r));
	have_root = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, cgroup_root,
					  sizeof(cgroup_root)) >= 0;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * KS_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
	if (o->json) {
		ks_json_init(&j, stdout);
		ks_json_open(&j, NULL, '[');
	}
	for (size_t i = 0; i < l.n; i++) {
		const struct ks_kept_scope *s = &l.v[i];
		long procs = -1;

		if (user && !scope_of_user(s, user, uid))
			continue;
		if (have_root && s->cgroup)
			procs = ks_kept_count_procs(cgroup_root, s->cgroup);
		format_when(s->since_usec, since, sizeof(since));
		time_left(s, now, left, sizeof(left), &left_usec);
		if (o->json) {
			ks_json_open(&j, NULL, '{');
			ks_json_str(&j, "unit", s->unit);
			ks_json_str(&j, "user", s->user);
			ks_json_str(&j, "program", s->program);
			ks_json_int(&j, "pid", s->pid);
			if (procs >= 0)
				ks_json_int(&j, "processes", procs);
			else
				ks_json_null(&j, "processes");
			if (s->since_usec)
				ks_json_uint(&j, "since_usec", s->since_usec);
			else
				ks_json_null(&j, "since_usec");
			if (left_usec != UINT64_MAX)
				ks_json_uint(&j, "left_usec", left_usec);
			else
				ks_json_null(&j, "left_usec");
			ks_json_str(&j, "session", s->session);
			ks_json_str(&j, "cgroup", s->cgroup);
			ks_json_close(&j, '}');
		} else {
			if (shown == 0)
				printf("%-10s %-10s %7s %5s  %-16s  %-9s %s\n", "USER", "PROGRAM",
				       "PID", "PROCS", "SINCE", "LEFT", "SESSION");
			printf("%-10.10s %-10.10s %7d %5ld  %-16s  %-9.9s %.10s\n",
			       s->user ? s->user : "?", s->program ? base_name(s->program) : "?",
			       (int)s->pid, procs >= 0 ? procs : 0L, since, left,
			       s->session ? s->session : "?");
		}
		shown++;
	}
	if (o->json)
		ks_json_close(&j, ']');
	else if (shown == 0)
		printf("no kept scopes%s%s\n", user ? " of " : "", user ? user : "");
	ks_kept_list_free(&l);
	return 0;
}

static int stop_one(sd_bus *bus, uint64_t deadline, const char *unit)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	int r;

	r = ks_kept_stop(bus, deadline, unit, &err);
	if (r < 0) {
		r = error(EXIT_PROBLEM, "cannot stop %s: %s", unit,
			  err.message ? err.message : strerror(-r));
		sd_bus_error_free(&err);
		return r;
	}
	printf("stopped %s\n", unit);
	return 0;
}

static int cmd_release(int argc, char **argv, const char *user)
{
	uint64_t deadline = ks_now_usec() + BUS_BOUND_USEC;
	struct ks_kept_list l = { 0 };
	sd_bus *bus = NULL;
	size_t matched = 0;
	uid_t uid = (uid_t)-1;
	int r, ret = 0;

	if (geteuid() != 0)
		return error(EXIT_PROBLEM, "release: only root may stop kept scopes");
	if (!user && argc == 0)
		return error(EXIT_USAGE, "release: name a unit or --user USER");
	for (int i = 0; i < argc; i++)
		if (!ks_kept_unit_name_valid(argv[i]))
			return error(EXIT_USAGE, "release: %s is not a keepsession-*.scope unit",
				     argv[i]);
	if (user) {
		uid = uid_of_user(user);
		r = list_scopes(&l, true);
		if (r < 0)
			return error(EXIT_PROBLEM, "cannot list the kept scopes from systemd: %s",
				     strerror(-r));
	}
	r = ks_bus_open_manager(&bus);
	if (r < 0) {
		ks_kept_list_free(&l);
		return error(EXIT_PROBLEM, "cannot connect to systemd: %s", strerror(-r));
	}
	for (int i = 0; i < argc; i++)
		if (stop_one(bus, deadline, argv[i]))
			ret = EXIT_PROBLEM;
	for (size_t i = 0; i < l.n; i++) {
		if (!scope_of_user(&l.v[i], user, uid))
			continue;
		matched++;
		if (stop_one(bus, deadline, l.v[i].unit))
			ret = EXIT_PROBLEM;
	}
	if (user && ret == 0 && matched == 0)
		printf("no kept scopes of %s\n", user);
	sd_bus_flush_close_unref(bus);
	ks_kept_list_free(&l);
	return ret;
}

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Will a user's terminal multiplexers survive logout, and why (not)?\n"
		"\n"
		"Commands:\n"
		"  status [USER]            is USER (default: you) kept, and what would be\n"
		"  list [USER]              the kept scopes, of USER or of everyone\n"
		"  check                    PAM placement, configuration, logind, stop guard\n"
		"  release UNIT...          stop kept scopes (root only)\n"
		"  release --user USER      stop every kept scope of USER (root only)\n"
		"\n"
		"Options:\n"
		"  --json                   machine-readable output (status, list, check)\n"
		"  --pam-dir DIR            PAM configuration directory (default /etc/pam.d)\n"
		"  --conf FILE              configuration file (default %s)\n"
		"  --service NAME           status: apply the module arguments of this PAM\n"
		"                           service's line (default sshd)\n"
		"  -h, --help               this help\n"
		"  --version                the version\n",
		program_name, KS_DEFAULT_CONF);
}

int main(int argc, char **argv)
{
	enum { OPT_JSON = 256, OPT_PAM_DIR, OPT_CONF, OPT_USER, OPT_SERVICE, OPT_VERSION };
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pam-dir", required_argument, NULL, OPT_PAM_DIR },
		{ "conf", required_argument, NULL, OPT_CONF },
		{ "user", required_argument, NULL, OPT_USER },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .pam_d = "/etc/pam.d", .service = "sshd" };
	const char *user = NULL, *command;
	const char *no_color = getenv("NO_COLOR");
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_PAM_DIR:
			o.pam_d = optarg;
			break;
		case OPT_CONF:
			if (optarg[0] != '/')
				return error(EXIT_USAGE, "--conf: not an absolute path: %s",
					     optarg);
			o.conf = optarg;
			break;
		case OPT_USER:
			user = optarg;
			break;
		case OPT_SERVICE:
			if (!optarg[0] || strchr(optarg, '/'))
				return error(EXIT_USAGE, "--service: not a PAM service name: %s",
					     optarg);
			o.service = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("keepsession %s\n", KS_VERSION);
			return 0;
		default:
			return error(EXIT_USAGE, "see --help");
		}
	}
	if (optind >= argc)
		return error(EXIT_USAGE, "no command: status, list, check or release (see --help)");
	o.color = !o.json && isatty(STDOUT_FILENO) && !(no_color && *no_color);
	command = argv[optind++];
	if (user && strcmp(command, "release") != 0)
		return error(EXIT_USAGE, "--user goes with release only");
	if (strcmp(command, "status") == 0 || strcmp(command, "list") == 0) {
		const char *who = optind < argc ? argv[optind++] : NULL;

		if (optind < argc)
			return error(EXIT_USAGE, "%s: one user at most", command);
		return command[0] == 's' ? cmd_status(&o, who) : cmd_list(&o, who);
	}
	if (strcmp(command, "check") == 0) {
		if (optind < argc)
			return error(EXIT_USAGE, "check takes no argument");
		return cmd_check(&o);
	}
	if (strcmp(command, "release") == 0) {
		if (o.json)
			return error(EXIT_USAGE, "release has no --json");
		if (user && optind < argc)
			return error(EXIT_USAGE, "release: units or --user, not both");
		return cmd_release(argc - optind, argv + optind, user);
	}
	return error(EXIT_USAGE, "unknown command: %s (see --help)", command);
}
