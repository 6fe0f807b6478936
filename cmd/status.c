/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession status [USER]: is the user kept at logout, why, and what
 * of each open session would be.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "keepsession.h"
#include "ks_cleanup.h"
#include "ks_eligibility.h"
#include "ks_explain.h"
#include "ks_optin.h"
#include "ks_optin_fork.h"
#include "ks_cgroup.h"
#include "ks_proctree.h"
#include "ks_program.h"

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
	r = ks_cgroup_mode_detect("/sys/fs/cgroup", &mode, cgroup_root, sizeof(cgroup_root));
	for (int i = 0; v && i < n; i++) {
		v[i].id = ids[i];
		ids[i] = NULL;
		(void)sd_session_get_service(v[i].id, &v[i].service);
		if (r < 0)
			v[i].error = r;
		else
			v[i].error = ks_dry_run("/proc", cgroup_root, uid, v[i].id, programs,
						&v[i].sel, v[i].cgroup, sizeof(v[i].cgroup));
	}
	if (v) {
		*out = v;
		*n_out = (size_t)n;
	}
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
	cmd_json_list(&j, "programs", &r->e->programs);
	cmd_json_list(&j, "optin_problems", &r->e->optin_problems);
	cmd_json_list(&j, "config_problems", r->conf_problems);
	if (r->line) {
		ks_json_open(&j, "pam_line", '{');
		ks_json_str(&j, "file", r->line->file);
		ks_json_uint(&j, "line", r->line->line);
		ks_json_str(&j, "args", r->line->args);
		ks_json_close(&j, '}');
	} else {
		ks_json_null(&j, "pam_line");
	}
	ks_json_bool_or_null(&j, "logind_kills", r->ls->known, r->kills);
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
			ks_json_str(&j, "program", ks_program_base_name(s->sel.trees[t].program));
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
		printf("    %s, pid %d, %zu process%s\n",
		       ks_program_base_name(s->sel.trees[t].program),
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
	cmd_join(&e->programs, list, sizeof(list));
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

/* The user status asks about (who, or the caller): *uid and *name
 * (malloc'd). Returns 0, or the exit code after saying why not. */
static int status_user(const char *who, uid_t *uid, char **name)
{
	const struct passwd *pw = who ? getpwnam(who) : getpwuid(getuid());

	if (!pw)
		return who ? cmd_error(EXIT_PROBLEM, "no such user: %s", who) :
			     cmd_error(EXIT_PROBLEM, "cannot look up uid %u", (unsigned)getuid());
	if (getuid() != 0 && pw->pw_uid != getuid())
		return cmd_error(EXIT_PROBLEM, "only root may ask about another user (%s)",
				 pw->pw_name);
	*uid = pw->pw_uid;
	*name = strdup(pw->pw_name);
	return *name ? 0 : cmd_error(EXIT_PROBLEM, "out of memory");
}

/* The module's decision for name, its reader a child with the user's ids
 * (root asking about someone), or the caller (a user about themselves),
 * bounded by a share of timeout as in the module. */
static int explain_user(const struct ks_config *c, const char *name, struct ks_explanation *e)
{
	const struct ks_optin_fork reader = { .timeout_usec = c->timeout_usec };
	const struct ks_eligibility_io io = {
		.lookup_user = cmd_lookup_user,
		.in_group = cmd_in_group,
		.read_optin = ks_optin_read_forked,
		.optin_ctx = (void *)&reader,
	};

	return ks_explain(c, name, &io, e);
}

/* Explains, reads logind and the open sessions, prints; the exit code. */
static int status_report(const struct opts *o, const struct ks_config *c, const char *name,
			 uid_t uid, const struct ks_pam_line *line,
			 const struct ks_strlist *conf_problems)
{
	_cleanup_(ks_explanation_free) struct ks_explanation e = { 0 };
	_cleanup_(cmd_logind_free) struct logind_settings ls = { .remove_ipc = -1 };
	struct status_report rep = {
		.uid = uid, .e = &e, .ls = &ls, .conf_problems = conf_problems, .line = line
	};
	struct session_view *sessions = NULL;
	char reason[600];
	int r;

	r = explain_user(c, name, &e);
	if (r < 0)
		return cmd_error(EXIT_PROBLEM, "%s", e.problems.n ? e.problems.v[0] : strerror(-r));
	cmd_logind_read(&ls);
	rep.kills =
		!ls.known || ks_policy_logind_kills(e.name, ls.kill_user_processes,
						    &ls.kill_only_users, &ls.kill_exclude_users);
	sessions_read(uid, &e.programs, &sessions, &rep.n_sessions);
	rep.sessions = sessions;
	rep.survives = e.kept || !rep.kills;
	reason_text(&e, c, reason, sizeof(reason));
	rep.name = e.name;
	rep.reason = reason;
	if (o->json)
		status_json(&rep);
	else
		status_human(o, &rep);
	sessions_free(sessions, rep.n_sessions);
	return rep.survives ? 0 : EXIT_NOT_KEPT;
}

/* The configuration as the module loads it for --service's line, then
 * the report on name. */
static int status_of(const struct opts *o, const char *name, uid_t uid)
{
	_cleanup_(ks_strlist_clear) struct ks_strlist conf_problems = { 0 };
	_cleanup_(ks_pamstack_free) struct ks_pamstack stack = { 0 };
	const struct ks_pam_line *line = NULL;
	struct ks_config c;
	int r;

	(void)cmd_service_line(o, o->service, &stack, &line);
	if (cmd_load_config(o, line ? line->args : NULL, &c, &conf_problems) < 0)
		return cmd_error(EXIT_PROBLEM, "out of memory");
	r = status_report(o, &c, name, uid, line, &conf_problems);
	ks_config_free(&c);
	return r;
}

int cmd_status(const struct opts *o, const char *who)
{
	uid_t uid = (uid_t)-1;
	char *name = NULL;
	int r;

	r = status_user(who, &uid, &name);
	if (r != 0)
		return r;
	r = status_of(o, name, uid);
	free(name);
	return r;
}
