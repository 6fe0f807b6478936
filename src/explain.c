/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_explain.h"
#include "ks_policy.h"

/* What the wrapped reader saw: its status and its log lines. */
struct recorder {
	const struct ks_eligibility_io *io;
	enum ks_optin_status status;
	bool called;
	struct ks_strlist *optin_problems;
};

static void record_line(void *ctx, int priority, const char *message)
{
	if (priority <= LOG_WARNING)
		(void)ks_strlist_add(ctx, message, strlen(message));
}

static enum ks_optin_status recording_reader(void *ctx, const struct ks_user *u, const char *path,
					     struct ks_strlist *lines, const struct ks_log *log)
{
	struct recorder *rec = ctx;
	const struct ks_log capture = { .sink = record_line, .ctx = rec->optin_problems };

	(void)log;
	rec->status = rec->io->read_optin(rec->io->optin_ctx, u, path, lines, &capture);
	rec->called = true;
	return rec->status;
}

/* The first entry of list that matches the user alone. */
static void matching_entry(const struct ks_strlist *list, const struct ks_user *u,
			   const struct ks_eligibility_io *io, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < list->n; i++) {
		const struct ks_strlist one = { .v = &list->v[i], .n = 1 };
		const char *unknown = NULL;

		if (ks_policy_list_matches(&one, u, io->in_group, io->ctx, &unknown) ==
		    KS_MEMBER_YES) {
			(void)snprintf(buf, size, "%s", list->v[i]);
			return;
		}
	}
}

static enum ks_reason reason_for(enum ks_who who, const struct recorder *rec, bool kept,
				 const char *entry)
{
	switch (who) {
	case KS_WHO_DENIED:
		return KS_REASON_DENIED;
	case KS_WHO_LISTED:
		if (!kept)
			return KS_REASON_NO_PROGRAMS;
		return strcmp(entry, "*") == 0 ? KS_REASON_ALL :
		       entry[0] == '@'         ? KS_REASON_GROUP :
						 KS_REASON_LISTED;
	case KS_WHO_MAY_OPT_IN:
		if (!rec->called || rec->status == KS_OPTIN_ABSENT)
			return KS_REASON_NOT_OPTED_IN;
		if (rec->status == KS_OPTIN_REFUSED)
			return KS_REASON_OPTIN_REFUSED;
		return kept ? KS_REASON_OPTED_IN : KS_REASON_NO_PROGRAMS;
	case KS_WHO_NOT_ALLOWED:
	default:
		return KS_REASON_OPTIN_OFF;
	}
}

int ks_explain(const struct ks_config *c, const char *name, const struct ks_eligibility_io *io,
	       struct ks_explanation *e)
{
	struct recorder rec = { .io = io };
	struct ks_eligibility_io wrapped = *io;
	const struct ks_log capture = { .sink = record_line, .ctx = &e->problems };
	struct ks_user u;
	enum ks_who who;

	*e = (struct ks_explanation){ 0 };
	rec.optin_problems = &e->optin_problems;
	wrapped.read_optin = recording_reader;
	wrapped.optin_ctx = &rec;

	e->kept = ks_eligible(c, name, &wrapped, &u, &e->programs, &capture);
	if (!u.name) {
		e->reason = KS_REASON_OPTIN_OFF;
		return -ENOENT;
	}
	e->name = strdup(u.name);
	if (!e->name) {
		ks_explanation_free(e);
		return -ENOMEM;
	}
	/* The same lists again, to say which entry decided (no log: the
	 * decision above already said what it had to). */
	who = ks_policy_who(c, &u, io->in_group, io->ctx, NULL);
	if (who == KS_WHO_DENIED)
		matching_entry(&c->deny, &u, io, e->entry, sizeof(e->entry));
	else if (who == KS_WHO_LISTED)
		matching_entry(&c->users, &u, io, e->entry, sizeof(e->entry));
	e->reason = reason_for(who, &rec, e->kept, e->entry);
	return 0;
}

void ks_explanation_free(struct ks_explanation *e)
{
	free(e->name);
	e->name = NULL;
	ks_strlist_clear(&e->programs);
	ks_strlist_clear(&e->optin_problems);
	ks_strlist_clear(&e->problems);
}

const char *ks_reason_name(enum ks_reason r)
{
	static const char *const names[] = {
		[KS_REASON_DENIED] = "denied",
		[KS_REASON_LISTED] = "listed",
		[KS_REASON_GROUP] = "group",
		[KS_REASON_ALL] = "all",
		[KS_REASON_OPTED_IN] = "opted-in",
		[KS_REASON_NOT_OPTED_IN] = "not-opted-in",
		[KS_REASON_OPTIN_REFUSED] = "optin-refused",
		[KS_REASON_NO_PROGRAMS] = "no-programs",
		[KS_REASON_OPTIN_OFF] = "optin-off",
	};

	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

int ks_dry_run(const char *proc_root, const char *cgroup_root, uid_t uid, const char *session_id,
	       const struct ks_strlist *programs, struct ks_selection *out, char *cgroup,
	       size_t cgroup_size)
{
	const struct ks_scan scan = {
		.proc_root = proc_root,
		.cgroup_root = cgroup_root,
		.cgroup = cgroup,
		.uid = uid,
		.programs = programs,
	};
	int r;

	*out = (struct ks_selection){ 0 };
	/* logind's ids are short names; anything else names no scope of its. */
	if (!session_id[0] ||
	    strspn(session_id, "abcdefghijklmnopqrstuvwxyz"
			       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(session_id))
		return -EINVAL;
	r = snprintf(cgroup, cgroup_size, "/user.slice/user-%u.slice/session-%s.scope",
		     (unsigned)uid, session_id);
	if (r < 0 || (size_t)r >= cgroup_size)
		return -EINVAL;
	return ks_select_trees(&scan, out, NULL);
}
