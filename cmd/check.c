/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession check: where pam_keepsession.so sits in each PAM stack, the
 * configuration's problems, logind's settings and the stop guard.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "keepsession.h"
#include "ks_cleanup.h"

static const char *const unit_dirs[] = {
	"/etc/systemd/system",     "/run/systemd/system", "/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system", "/lib/systemd/system",
};

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
		const struct ks_log log = { .sink = cmd_collect_sink, .ctx = &sv.problems };
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
		cmd_format_span(usec, buf, size);
	else
		(void)snprintf(buf, size, "n/a");
}

static void service_json(struct ks_json *j, const struct service_verdict *s)
{
	ks_json_open(j, NULL, '{');
	ks_json_str(j, "service", s->name);
	ks_json_str(j, "placement", placement_name(s->placement));
	ks_json_open(j, "pam_keepsession", '{');
	ks_json_str(j, "file", s->keep.file);
	ks_json_uint(j, "line", s->keep.line);
	ks_json_close(j, '}');
	if (s->systemd.file) {
		ks_json_open(j, "pam_systemd", '{');
		ks_json_str(j, "file", s->systemd.file);
		ks_json_uint(j, "line", s->systemd.line);
		ks_json_str(j, "via_file", s->systemd.top_file);
		ks_json_uint(j, "via_line", s->systemd.top_line);
		ks_json_close(j, '}');
	} else {
		ks_json_null(j, "pam_systemd");
	}
	cmd_json_list(j, "problems", &s->problems);
	ks_json_close(j, '}');
}

static void logind_json(struct ks_json *j, const struct logind_settings *ls)
{
	if (!ls->known) {
		ks_json_null(j, "logind");
		return;
	}
	ks_json_open(j, "logind", '{');
	ks_json_bool(j, "KillUserProcesses", ls->kill_user_processes);
	cmd_json_list(j, "KillOnlyUsers", &ls->kill_only_users);
	cmd_json_list(j, "KillExcludeUsers", &ls->kill_exclude_users);
	ks_json_uint_or_null(j, "StopIdleSessionUSec", ls->stop_idle_known,
			     ls->stop_idle_session_usec);
	ks_json_uint_or_null(j, "UserStopDelayUSec", ls->user_stop_delay_known,
			     ls->user_stop_delay_usec);
	ks_json_bool_or_null(j, "RemoveIPC", ls->remove_ipc >= 0, ls->remove_ipc > 0);
	ks_json_close(j, '}');
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
	for (size_t i = 0; i < n; i++)
		service_json(&j, &v[i]);
	ks_json_close(&j, ']');
	ks_json_open(&j, "config", '{');
	ks_json_str(&j, "file", o->conf ? o->conf : KS_DEFAULT_CONF);
	cmd_json_list(&j, "problems", conf_problems);
	ks_json_close(&j, '}');
	logind_json(&j, ls);
	ks_json_open(&j, "guard", '{');
	ks_json_bool(&j, "installed", g->unit[0] && g->dropin[0]);
	ks_json_str(&j, "unit", g->unit[0] ? g->unit : NULL);
	ks_json_str(&j, "dropin", g->dropin[0] ? g->dropin : NULL);
	ks_json_close(&j, '}');
	cmd_json_list(&j, "problems", problems);
	ks_json_close(&j, '}');
}

static void logind_human(const struct opts *o, const struct logind_settings *ls)
{
	char idle[64], delay[64], users[256];

	if (!ls->known) {
		printf("logind: %s (%s)\n", BAD(o, "unknown"), ls->error);
		return;
	}
	cmd_join(&ls->kill_exclude_users, users, sizeof(users));
	printf("logind: KillUserProcesses=%s KillExcludeUsers=%s\n",
	       ls->kill_user_processes ? "yes" : "no", users);
	cmd_join(&ls->kill_only_users, users, sizeof(users));
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
	if (cmd_load_config(o, sv->keep.args, &c, &problems) >= 0)
		for (size_t i = 0; i < problems.n; i++)
			if (!ks_strlist_contains(file_problems, problems.v[i]))
				add_problem(&sv->problems, "%s:%u: %s", sv->keep.file,
					    sv->keep.line, problems.v[i]);
	ks_config_free(&c);
	ks_strlist_clear(&problems);
}

/* Every problem the services, the configuration, logind and the guard
 * show, in the order check prints them. */
static void gather_problems(const struct opts *o, struct service_verdict *v, size_t n,
			    const struct ks_strlist *conf_problems,
			    const struct logind_settings *ls, const struct guard_state *g,
			    struct ks_strlist *problems)
{
	if (n == 0 && problems->n == 0)
		add_problem(problems, "no PAM service in %s loads pam_keepsession.so", o->pam_d);
	for (size_t i = 0; i < n; i++) {
		const struct service_verdict *s = &v[i];

		if (s->placement == KS_PLACEMENT_AFTER)
			add_problem(problems,
				    "%s:%u: pam_keepsession.so comes after %s:%u, which brings in "
				    "pam_systemd.so (%s:%u): move it above that line",
				    s->keep.file, s->keep.line, s->systemd.top_file,
				    s->systemd.top_line, s->systemd.file, s->systemd.line);
		args_problems(o, &v[i], conf_problems);
		for (size_t k = 0; k < s->problems.n; k++)
			add_problem(problems, "%s", s->problems.v[k]);
	}
	for (size_t i = 0; i < conf_problems->n; i++)
		add_problem(problems, "%s", conf_problems->v[i]);
	if (!ls->known)
		add_problem(problems, "cannot read logind's settings: %s", ls->error);
	if (!g->unit[0] != !g->dropin[0])
		add_problem(problems, "stop guard half installed: %s found, %s missing",
			    g->unit[0] ? g->unit : g->dropin,
			    g->unit[0] ? "session-.scope.d/keepsession-guard.conf" :
					 "keepsession-guard@.service");
}

static void verdicts_free(struct service_verdict *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		ks_pamstack_free(&v[i].stack);
		ks_strlist_clear(&v[i].problems);
	}
	free(v);
}

int cmd_check(const struct opts *o)
{
	_cleanup_(ks_strlist_clear) struct ks_strlist problems = { 0 }, conf_problems = { 0 };
	_cleanup_(cmd_logind_free) struct logind_settings ls = { .remove_ipc = -1 };
	struct service_verdict *v = NULL;
	struct guard_state g;
	struct ks_config c;
	size_t n = 0;

	/* The configuration first: its problems come after PAM's, but an
	 * out-of-memory here is the only way this command gives up. */
	if (cmd_load_config(o, NULL, &c, &conf_problems) < 0)
		return cmd_error(EXIT_PROBLEM, "out of memory");
	ks_config_free(&c);
	if (resolve_services(o, &v, &n, &problems) < 0)
		return cmd_error(EXIT_PROBLEM, "out of memory");
	cmd_logind_read(&ls);
	guard_find(&g);
	gather_problems(o, v, n, &conf_problems, &ls, &g, &problems);
	if (o->json)
		check_json(o, v, n, &conf_problems, &ls, &g, &problems);
	else
		check_human(o, v, n, &conf_problems, &ls, &g, &problems);
	verdicts_free(v, n);
	return problems.n ? EXIT_PROBLEM : 0;
}
