/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ks_cgroup.h"
#include "ks_cleanup.h"
#include "ks_clock.h"
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

/* top[i]: the outermost matched process at or above i, clients (when
 * given) not counted as matched: they are transparent, so that the
 * server below a client is a root of its own. */
static void find_tops(const struct ks_session *s, const bool *client, size_t *top)
{
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k], parent = s->procs[i].parent;

		if (parent != KS_NO_INDEX && top[parent] != KS_NO_INDEX)
			top[i] = top[parent];
		else if (s->procs[i].match && !(client && client[i]))
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
 * windows' shells are below them. Sorted, for bsearch().
 */
static int session_terminals(const struct ks_session *s, const size_t *top, int **out,
			     size_t *n_out)
{
	size_t n = 0, unique = 0;
	int *ttys;

	*out = NULL;
	*n_out = 0;
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
	*out = ttys;
	*n_out = unique;
	return 0;
}

/* top[] for every process: the outermost matched process above or at
 * it that is not a client on the session's terminal. */
static int session_tops(const struct ks_session *s, size_t *top, const struct ks_log *log)
{
	size_t n_terminals = 0, n_clients = 0;
	int *terminals = NULL;
	bool *client;
	int r;

	find_tops(s, NULL, top);
	r = session_terminals(s, top, &terminals, &n_terminals);
	if (r < 0 || n_terminals == 0)
		return r;
	client = calloc(s->n ? s->n : 1, sizeof(*client));
	if (!client) {
		free(terminals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		int tty = s->procs[i].tty_nr;

		client[i] = s->procs[i].match && tty != 0 &&
			    bsearch(&tty, terminals, n_terminals, sizeof(*terminals), cmp_int);
		if (client[i] && n_clients++ < DEBUG_LINES_MAX)
			ks_log(log, LOG_DEBUG,
			       "process %d is a client on the session's terminal, "
			       "not a tree of its own",
			       (int)s->procs[i].pid);
	}
	if (n_clients > DEBUG_LINES_MAX)
		ks_log(log, LOG_DEBUG, "%zu more clients on the session's terminal",
		       n_clients - DEBUG_LINES_MAX);
	find_tops(s, client, top);
	free(terminals);
	free(client);
	return 0;
}

/* Sizes the trees: tree_of[i] for each root, n per tree of the members
 * of uid. Returns the number of trees, or -ENOMEM. */
static int trees_alloc(struct ks_session *s, uid_t uid, const size_t *top, size_t *tree_of,
		       struct ks_selection *sel)
{
	size_t n_trees = 0;

	for (size_t i = 0; i < s->n; i++)
		tree_of[i] = top[i] == i ? n_trees++ : KS_NO_INDEX;
	if (n_trees == 0)
		return 0;
	sel->trees = calloc(n_trees, sizeof(*sel->trees));
	if (!sel->trees)
		return -ENOMEM;
	sel->n = n_trees;
	/* The only status reads of the selection: a tree's members. */
	for (size_t i = 0; i < s->n; i++)
		if (top[i] != KS_NO_INDEX && ks_session_uid_is(s, &s->procs[i], uid))
			sel->trees[tree_of[top[i]]].n++;
	for (size_t t = 0; t < n_trees; t++) {
		/* n >= 1: every tree holds its root, of the scan's uid. */
		/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI) */
		sel->trees[t].procs = calloc(sel->trees[t].n, sizeof(*sel->trees[t].procs));
		if (!sel->trees[t].procs)
			return -ENOMEM;
		sel->trees[t].n = 0;
	}
	return (int)n_trees;
}

/* The trees of the session's tops, in the order of their root's pid,
 * each with its members of uid. */
static int build_trees(struct ks_session *s, uid_t uid, const size_t *top, struct ks_selection *sel)
{
	size_t *tree_of = malloc((s->n ? s->n : 1) * sizeof(size_t));
	int r;

	if (!tree_of)
		return -ENOMEM;
	r = trees_alloc(s, uid, top, tree_of, sel);
	if (r <= 0) {
		free(tree_of);
		return r;
	}
	/* Parents come first in the order, so each root lands in procs[0]. */
	for (size_t k = 0; k < s->n; k++) {
		size_t i = s->order[k];
		struct ks_tree *tree;

		/* Read already: a member's uid, or a process of no tree. */
		if (top[i] == KS_NO_INDEX || !ks_session_uid_is(s, &s->procs[i], uid))
			continue;
		tree = &sel->trees[tree_of[top[i]]];
		if (top[i] == i) {
			tree->program = strdup(s->procs[i].match);
			if (!tree->program)
				break;
		}
		tree->procs[tree->n++] = (struct ks_proc_id){
			.pid = s->procs[i].pid,
			.starttime = s->procs[i].starttime,
		};
	}
	free(tree_of);
	for (size_t t = 0; t < sel->n; t++)
		if (!sel->trees[t].program)
			return -ENOMEM;
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

int ks_select_trees(const struct ks_scan *scan, struct ks_selection *out, const struct ks_log *log)
{
	struct ks_selection sel = { 0 };
	struct ks_session s;
	size_t *top;
	int r;

	if (!out)
		return -EINVAL;
	*out = (struct ks_selection){ 0 };
	r = ks_session_load(scan, true, &s, log);
	if (r < 0)
		return r;
	/* A match counts for a process of the scan's uid only: status is
	 * read for the matched ones, not for every process. */
	for (size_t i = 0; i < s.n; i++)
		if (s.procs[i].match && !ks_session_uid_is(&s, &s.procs[i], scan->uid))
			s.procs[i].match = NULL;
	top = malloc((s.n ? s.n : 1) * sizeof(*top));
	r = top ? session_tops(&s, top, log) : -ENOMEM;
	if (r >= 0)
		r = build_trees(&s, scan->uid, top, &sel);
	if (r >= 0 && s.timed_out)
		r = -ETIMEDOUT;
	free(top);
	if (r < 0) {
		ks_selection_free(&sel);
		ks_session_free(&s);
		return r;
	}
	log_selection(&sel, log);
	*out = sel;
	ks_session_done(scan, &s);
	return 0;
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
	r = ks_session_load(scan, false, &s, NULL);
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

/* Does one of pids (read through procfd) run one of programs? An exe
 * link that cannot be read is no program of ours, as in the full scan. */
static int any_matches(int procfd, const pid_t *pids, size_t n, const struct ks_scan *scan)
{
	char exe[PATH_MAX];

	for (size_t i = 0; i < n; i++) {
		if (scan->deadline && ks_now_usec() >= scan->deadline)
			return 1;
		if (ks_proc_read_exe(procfd, pids[i], exe, sizeof(exe)) == 0 &&
		    ks_program_match(scan->programs, exe))
			return 1;
	}
	return 0;
}

int ks_session_may_hold(const struct ks_scan *scan)
{
	_cleanup_(freep) pid_t *pids = NULL;
	_cleanup_(closep) int procfd = -1;
	size_t n = 0;

	if (!scan || !scan->proc_root || !scan->cgroup_root || !scan->cgroup || !scan->programs)
		return 1;
	/* No log: a bound hit or a failure is the full scan's to report.
	 * A larger session is not read past the bound (-E2BIG). */
	if (ks_cgroup_pids_max(scan->cgroup_root, scan->cgroup, scan->deadline,
			       KS_MAY_HOLD_MAX_PROCS, NULL, &pids, &n) < 0)
		return 1;
	procfd = open(scan->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0)
		return 1;
	return any_matches(procfd, pids, n, scan);
}
