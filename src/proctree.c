/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_program.h"
#include "ks_proctree.h"

/* Per-process debug lines, then one count: a session of thousands of
 * processes must not flood the journal even with debug on. */
#define DEBUG_LINES_MAX 8

void ks_selection_free(struct ks_selection *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->trees[i].program);
		free(s->trees[i].procs);
	}
	free(s->trees);
	s->trees = NULL;
	s->n = 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Does process i count as matched: one of the programs, run by the scan's
 * uid? Its exe is read here, and its status only when the exe matches. */
static bool is_match(struct ks_session *s, size_t i, const struct ks_scan *scan)
{
	struct ks_proc *p = &s->procs[i];

	return ks_session_match(s, p, scan->programs) && ks_session_uid_is(s, p, scan->uid);
}

/* The session's terminals, sorted, for clients: a matched process on one
 * of them is an attached screen or tmux client. */
struct terminals {
	int *ttys;
	size_t n;
	size_t n_clients; /* debug lines said */
};

static bool is_client(const struct ks_proc *p, struct terminals *t, const struct ks_log *log)
{
	int tty = p->tty_nr;

	if (!t || tty == 0 || !bsearch(&tty, t->ttys, t->n, sizeof(*t->ttys), cmp_int))
		return false;
	if (t->n_clients++ < DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG,
		       "process %d is a client on the session's terminal, not a tree of its own",
		       (int)p->pid);
	return true;
}

/* top[i]: the outermost matched process at or above i, clients (when
 * terminals are given) not counted as matched: they are transparent, so
 * that the server below a client is a root of its own. A process below a
 * top needs no exe read: whatever it runs, it is in that tree. */
static void find_tops(struct ks_session *s, const struct ks_scan *scan, struct terminals *t,
		      size_t *top, const struct ks_log *log)
{
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k], parent = s->procs[i].parent;

		if (parent != KS_NO_INDEX && top[parent] != KS_NO_INDEX)
			top[i] = top[parent];
		else if (is_match(s, i, scan) && !is_client(&s->procs[i], t, log))
			top[i] = i;
		else
			top[i] = KS_NO_INDEX;
	}
}

/*
 * The closing session's terminals, from the scan alone (the stop guard
 * runs this outside the session, where PAM_TTY is unknown): the
 * controlling terminals of session leaders not below a matched process,
 * the login shell's pty, or an attached client's that sshd started
 * directly. Multiplexer servers call setsid() and have none; their
 * windows' shells are below them.
 */
static int session_terminals(const struct ks_session *s, const size_t *top, struct terminals *t)
{
	size_t n = 0, unique = 0;
	int *ttys;

	*t = (struct terminals){ 0 };
	ttys = malloc((s->n ? s->n : 1) * sizeof(*ttys));
	if (!ttys)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		const struct ks_proc *p = &s->procs[i];

		if (p->tty_nr == 0 || p->session != p->pid)
			continue;
		if (p->parent != KS_NO_INDEX && top[p->parent] != KS_NO_INDEX)
			continue;
		ttys[n++] = p->tty_nr;
	}
	qsort(ttys, n, sizeof(*ttys), cmp_int);
	for (size_t i = 0; i < n; i++)
		if (unique == 0 || ttys[i] != ttys[unique - 1])
			ttys[unique++] = ttys[i];
	if (unique == 0) {
		free(ttys);
		return 0;
	}
	t->ttys = ttys;
	t->n = unique;
	return 0;
}

/* top[] for every process: the outermost matched process above or at
 * it that is not a client on the session's terminal. */
static int session_tops(struct ks_session *s, const struct ks_scan *scan, size_t *top,
			const struct ks_log *log)
{
	struct terminals t;
	int r;

	find_tops(s, scan, NULL, top, log);
	r = session_terminals(s, top, &t);
	if (r < 0 || t.n == 0)
		return r;
	find_tops(s, scan, &t, top, log);
	if (t.n_clients > DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG, "%zu more clients on the session's terminal",
		       t.n_clients - DEBUG_LINES_MAX);
	free(t.ttys);
	return 0;
}

/* What the roots' pass leaves for the members': the session as read, each
 * process's top, and each root's tree. */
struct ks_members {
	struct ks_session s;
	size_t *top;
	size_t *tree_of;
};

void ks_members_free(struct ks_members *m)
{
	if (!m)
		return;
	ks_session_free(&m->s);
	free(m->top);
	free(m->tree_of);
	free(m);
}

/* Sizes the trees, each with room for every process under its top, and
 * puts each root in its tree's procs[0]. Returns the number of trees, or
 * -ENOMEM. */
static int roots_alloc(struct ks_members *m, struct ks_selection *sel)
{
	const struct ks_session *s = &m->s;
	size_t n_trees = 0;

	for (size_t i = 0; i < s->n; i++)
		m->tree_of[i] = m->top[i] == i ? n_trees++ : KS_NO_INDEX;
	if (n_trees == 0)
		return 0;
	sel->trees = calloc(n_trees, sizeof(*sel->trees));
	if (!sel->trees)
		return -ENOMEM;
	sel->n = n_trees;
	for (size_t i = 0; i < s->n; i++)
		if (m->top[i] != KS_NO_INDEX)
			sel->trees[m->tree_of[m->top[i]]].room++;
	for (size_t i = 0; i < s->n; i++) {
		struct ks_tree *tree;

		if (m->top[i] != i)
			continue;
		tree = &sel->trees[m->tree_of[i]];
		tree->program = strdup(s->procs[i].match);
		/* room >= 1: the root is under its own top. */
		/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
		tree->procs = calloc(tree->room, sizeof(*tree->procs));
		if (!tree->program || !tree->procs)
			return -ENOMEM;
		tree->procs[0] = (struct ks_proc_id){
			.pid = s->procs[i].pid,
			.starttime = s->procs[i].starttime,
		};
		tree->n = 1;
	}
	return (int)n_trees;
}

int ks_select_roots(const struct ks_scan *scan, struct ks_selection *out,
		    struct ks_members **members, const struct ks_log *log)
{
	struct ks_selection sel = { 0 };
	struct ks_members *m;
	int r;

	if (!out || !members)
		return -EINVAL;
	*out = (struct ks_selection){ 0 };
	*members = NULL;
	if (!scan || !scan->programs)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = ks_session_load(scan, &m->s, log);
	if (r < 0) {
		free(m);
		return r;
	}
	m->top = malloc((m->s.n ? m->s.n : 1) * sizeof(*m->top));
	m->tree_of = malloc((m->s.n ? m->s.n : 1) * sizeof(*m->tree_of));
	r = m->top && m->tree_of ? session_tops(&m->s, scan, m->top, log) : -ENOMEM;
	if (r >= 0)
		r = roots_alloc(m, &sel);
	if (r >= 0 && m->s.timed_out)
		r = -ETIMEDOUT;
	if (r < 0) {
		ks_selection_free(&sel);
		ks_members_free(m);
		return r;
	}
	*out = sel;
	*members = m;
	return 0;
}

static void log_selection(const struct ks_selection *sel, const struct ks_log *log)
{
	for (size_t t = 0; t < sel->n && t < DEBUG_LINES_MAX; t++)
		ks_log(log, LOG_DEBUG, "selected process %d with %zu descendants",
		       (int)sel->trees[t].procs[0].pid, sel->trees[t].n - 1);
	if (sel->n > DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG, "selected %zu more processes", sel->n - DEBUG_LINES_MAX);
}

int ks_select_members(const struct ks_scan *scan, struct ks_members *m, struct ks_selection *sel,
		      const struct ks_log *log)
{
	struct ks_session *s;
	int r = 0;

	if (!m)
		return 0;
	s = &m->s;
	/* Parents come first in the order, so each tree's members follow
	 * its root in that order. The only status reads left. */
	for (size_t k = 0; k < s->n && !s->timed_out; k++) {
		size_t i = s->order[k], top = m->top[i];
		struct ks_tree *tree;

		if (top == KS_NO_INDEX || top == i ||
		    !ks_session_uid_is(s, &s->procs[i], scan->uid))
			continue;
		tree = &sel->trees[m->tree_of[top]];
		tree->procs[tree->n++] = (struct ks_proc_id){
			.pid = s->procs[i].pid,
			.starttime = s->procs[i].starttime,
		};
	}
	if (s->timed_out) {
		r = -ETIMEDOUT;
	} else {
		log_selection(sel, log);
		ks_session_done(scan, s);
	}
	ks_members_free(m);
	return r;
}

int ks_select_trees(const struct ks_scan *scan, struct ks_selection *out, const struct ks_log *log)
{
	struct ks_members *m = NULL;
	int r;

	r = ks_select_roots(scan, out, &m, log);
	if (r < 0)
		return r;
	r = ks_select_members(scan, m, out, log);
	if (r < 0)
		ks_selection_free(out);
	return r;
}

static int cmp_proc_id(const void *a, const void *b)
{
	pid_t x = ((const struct ks_proc_id *)a)->pid, y = ((const struct ks_proc_id *)b)->pid;

	return (x > y) - (x < y);
}

static void sort_kept(const struct ks_proc_id *kept, size_t n, struct ks_proc_id *sorted,
		      size_t *from)
{
	size_t *idx = from;

	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	/* Shell sort of indexes, as qsort() takes no context to compare
	 * through: no allocation, fast enough for a session's processes. */
	for (size_t gap = n / 2; gap > 0; gap /= 2)
		for (size_t i = gap; i < n; i++)
			for (size_t j = i; j >= gap && kept[idx[j - gap]].pid > kept[idx[j]].pid;
			     j -= gap) {
				size_t t = idx[j];

				idx[j] = idx[j - gap];
				idx[j - gap] = t;
			}
	for (size_t i = 0; i < n; i++)
		sorted[i] = kept[idx[i]];
}

static const struct ks_proc_id *kept_find(const struct ks_proc_id *kept, size_t n, pid_t pid)
{
	struct ks_proc_id key = { .pid = pid };

	return n ? bsearch(&key, kept, n, sizeof(*kept), cmp_proc_id) : NULL;
}

/* Reads procs[at] again when it came from the table, as the owner found
 * for it may lead a child to a kept process. When it is another process
 * now (its pid reused), that owner came from the old one's ppid: none is
 * known. One that cannot be read is left as it was. */
static void recheck(struct ks_session *s, size_t at, size_t *owner)
{
	unsigned long long was = s->procs[at].starttime;

	if (s->procs[at].from_table && ks_session_refresh(s, &s->procs[at]) == 0 &&
	    s->procs[at].starttime != was)
		owner[at] = KS_NO_INDEX;
}

/* owner[i]: the index in the caller's kept of the nearest kept process
 * above i, or KS_NO_INDEX. */
static void find_owners(struct ks_session *s, const struct ks_proc_id *sorted,
			const size_t *sorted_from, size_t n_kept, size_t *owner)
{
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k], parent = s->procs[i].parent;
		const struct ks_proc_id *kp = kept_find(sorted, n_kept, s->procs[i].ppid);

		/* A parent still in the cgroup under a kept pid is the kept
		 * process only with the kept start time: else it is a new
		 * process that reused the pid. An owned parent from the
		 * table is checked the same way (the table holds what was,
		 * and only parents leading to a kept process are read). */
		if (kp) {
			size_t at = ks_proc_find(s->procs, s->n, kp->pid);

			if (at != KS_NO_INDEX)
				recheck(s, at, owner);
			if (at != KS_NO_INDEX && s->procs[at].starttime != kp->starttime)
				kp = NULL;
		} else if (parent != KS_NO_INDEX && owner[parent] != KS_NO_INDEX) {
			recheck(s, parent, owner);
		}
		if (kp)
			owner[i] = sorted_from[kp - sorted];
		else if (parent != KS_NO_INDEX)
			owner[i] = owner[parent];
		else
			owner[i] = KS_NO_INDEX;
	}
}

/* The owned processes of uid that are not kept themselves, by pid. */
static int collect_stragglers(struct ks_session *s, uid_t uid, const struct ks_proc_id *sorted,
			      size_t n_kept, const size_t *owner, struct ks_proc_id **out,
			      size_t **owners, size_t *n_out)
{
	struct ks_proc_id *result = malloc((s->n ? s->n : 1) * sizeof(*result));
	size_t *result_owner = malloc((s->n ? s->n : 1) * sizeof(size_t));
	size_t n = 0;

	if (!result || !result_owner) {
		free(result);
		free(result_owner);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		/* Status is read for the owned processes alone. */
		if (owner[i] == KS_NO_INDEX || kept_find(sorted, n_kept, s->procs[i].pid) ||
		    !ks_session_uid_is(s, &s->procs[i], uid))
			continue;
		result_owner[n] = owner[i];
		result[n++] = (struct ks_proc_id){
			.pid = s->procs[i].pid,
			.starttime = s->procs[i].starttime,
		};
	}
	if (n == 0) {
		free(result);
		free(result_owner);
		return 0;
	}
	*out = result;
	if (owners)
		*owners = result_owner;
	else
		free(result_owner);
	*n_out = n;
	return 0;
}

int ks_select_stragglers_owned(const struct ks_scan *scan, const struct ks_proc_id *kept,
			       size_t n_kept, struct ks_proc_id **out, size_t **owners,
			       size_t *n_out)
{
	struct ks_proc_id *sorted;
	size_t *sorted_from, *owner;
	struct ks_session s;
	int r;

	if (!out || !n_out || (n_kept && !kept))
		return -EINVAL;
	*out = NULL;
	*n_out = 0;
	if (owners)
		*owners = NULL;
	/* No log here: the scan's problems were logged by ks_select_trees(). */
	r = ks_session_load(scan, &s, NULL);
	if (r < 0)
		return r;
	sorted = malloc((n_kept ? n_kept : 1) * sizeof(*sorted));
	sorted_from = malloc((n_kept ? n_kept : 1) * sizeof(*sorted_from));
	owner = malloc((s.n ? s.n : 1) * sizeof(*owner));
	if (sorted && sorted_from && owner) {
		/* Sorted by pid, each remembering its index in the caller's kept. */
		sort_kept(kept, n_kept, sorted, sorted_from);
		find_owners(&s, sorted, sorted_from, n_kept, owner);
		r = collect_stragglers(&s, scan->uid, sorted, n_kept, owner, out, owners, n_out);
	} else {
		r = -ENOMEM;
	}
	free(sorted);
	free(sorted_from);
	free(owner);
	if (r >= 0 && s.timed_out) {
		free(*out);
		*out = NULL;
		if (owners) {
			free(*owners);
			*owners = NULL;
		}
		*n_out = 0;
		r = -ETIMEDOUT;
	}
	if (r < 0) {
		ks_session_free(&s);
		return r;
	}
	ks_session_done(scan, &s);
	return 0;
}

int ks_select_stragglers(const struct ks_scan *scan, const struct ks_proc_id *kept, size_t n_kept,
			 struct ks_proc_id **out, size_t *n_out)
{
	return ks_select_stragglers_owned(scan, kept, n_kept, out, NULL, n_out);
}
