/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_cgroup.h"
#include "ks_cleanup.h"
#include "ks_clock.h"
#include "ks_procfs.h"
#include "ks_program.h"
#include "ks_proctable.h"

#define DEADLINE_EVERY 16 /* processes read between two looks at the clock */
/* Per-process debug lines, then one count: a session of thousands of
 * processes must not flood the journal even with debug on. */
#define DEBUG_LINES_MAX 8

/*
 * The table a close keeps across its scans: the processes of the last
 * scan, sorted by pid. A rescan reads cgroup.procs again but /proc only
 * for pids it has not seen. That is safe because nothing selected here is
 * moved on the table's word alone: every pid is pinned and its identity
 * (start time, real uid) checked by procfs right before it is attached
 * (ks_proc_hold()), so a stale entry (a pid that exited and was reused
 * within one close, which would take pid_max forks) can never move
 * another uid's process or another process. Nor does it make a stranger
 * a straggler: an entry through which a child would descend from a kept
 * process is read again first (ks_session_refresh()); at worst a
 * straggler is missed. A pid that left the cgroup is dropped, and read
 * afresh if it ever comes back.
 */
struct ks_proc_table {
	struct ks_proc *procs;
	size_t n;
};

struct ks_proc_table *ks_proc_table_new(void)
{
	return calloc(1, sizeof(struct ks_proc_table));
}

void ks_proc_table_free(struct ks_proc_table *t)
{
	if (!t)
		return;
	free(t->procs);
	free(t);
}

size_t ks_proc_find(const struct ks_proc *procs, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (procs[mid].pid == pid)
			return mid;
		if (procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return KS_NO_INDEX;
}

/* Reads a process not seen before: its stat line. A zombie (or a dead
 * process) is gone: nothing is left of it to move. */
static int proc_read(int procfd, pid_t pid, struct ks_proc *p)
{
	struct ks_proc_stat st;
	int r;

	r = ks_proc_read_stat(procfd, pid, &st);
	if (r < 0)
		return r;
	if (st.state == 'Z' || st.state == 'X' || st.state == 'x')
		return -ESRCH;
	*p = (struct ks_proc){
		.pid = pid,
		.ppid = st.ppid,
		.session = st.session,
		.tty_nr = st.tty_nr,
		.starttime = st.starttime,
	};
	return 0;
}

/* One debug line per unparsable entry, up to a bound. */
static void note_unparsable(struct ks_session *s, pid_t pid)
{
	if (s->n_unparsable++ < DEBUG_LINES_MAX)
		ks_log(s->log, LOG_DEBUG, "process %d: unparsable /proc entry, skipped", (int)pid);
}

/* Is a read after the stat pass (status, exe) due past the deadline?
 * Looked at every few reads, as the stat reads are: a session of
 * thousands of selected processes must not hold the close either. */
static bool read_too_late(struct ks_session *s)
{
	if (!s->timed_out && s->deadline && s->n_late_reads++ % DEADLINE_EVERY == 0 &&
	    ks_now_usec() >= s->deadline)
		s->timed_out = true;
	return s->timed_out;
}

/* An exe link that is gone is a process gone (or a zombie); one
 * unreadable or cut is a process, but not a program of ours. Either way
 * no match. */
const char *ks_session_match(struct ks_session *s, struct ks_proc *p,
			     const struct ks_strlist *programs)
{
	if (!p->exe_read) {
		char exe[PATH_MAX];

		if (read_too_late(s))
			return NULL;
		p->match = ks_proc_read_exe(s->procfd, p->pid, exe, sizeof(exe)) == 0 ?
				   ks_program_match(programs, exe) :
				   NULL;
		p->exe_read = true;
	}
	return p->match;
}

bool ks_session_uid_is(struct ks_session *s, struct ks_proc *p, uid_t uid)
{
	if (p->uid_state == KS_UID_UNREAD) {
		int r;

		if (read_too_late(s))
			return false;
		r = ks_proc_read_uid(s->procfd, p->pid, &p->uid);

		if (r == -EINVAL)
			note_unparsable(s, p->pid);
		p->uid_state = r == 0 ? KS_UID_READ : KS_UID_UNKNOWN;
	}
	return p->uid_state == KS_UID_READ && p->uid == uid;
}

int ks_session_refresh(struct ks_session *s, struct ks_proc *p)
{
	struct ks_proc fresh;
	int r;

	if (!p->from_table)
		return 0;
	p->from_table = false;
	r = proc_read(s->procfd, p->pid, &fresh);
	if (r < 0)
		return r;
	if (fresh.starttime != p->starttime) {
		/* Another process: nothing read of the old one holds. */
		fresh.parent = p->parent;
		*p = fresh;
	}
	return 0;
}

/*
 * Links each process to its parent and orders them parents first. A ppid
 * cycle (only a fake /proc has them) is cut where the walk meets it, so
 * that every later pass is a single loop over the order.
 */
static int session_link(struct ks_session *s)
{
	unsigned char *state; /* 0 new, 1 on the current path, 2 ordered */
	size_t *path, n_order = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct ks_proc *p = &s->procs[i];

		p->parent = p->ppid > 0 && p->ppid != p->pid ?
				    ks_proc_find(s->procs, s->n, p->ppid) :
				    KS_NO_INDEX;
	}
	s->order = malloc((s->n ? s->n : 1) * sizeof(*s->order));
	state = calloc(s->n ? s->n : 1, 1);
	path = malloc((s->n ? s->n : 1) * sizeof(*path));
	if (!s->order || !state || !path) {
		free(state);
		free(path);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->n; i++) {
		size_t depth = 0, cur = i;

		if (state[i] == 2)
			continue;
		/* Up to an ordered process or a top; every process is on
		 * a path once, so this is linear overall. */
		for (;;) {
			size_t parent = s->procs[cur].parent;

			state[cur] = 1;
			path[depth++] = cur;
			if (parent == KS_NO_INDEX || state[parent] == 2)
				break;
			if (state[parent] == 1) {
				s->procs[cur].parent = KS_NO_INDEX;
				break;
			}
			cur = parent;
		}
		while (depth > 0) {
			cur = path[--depth];
			state[cur] = 2;
			s->order[n_order++] = cur;
		}
	}
	free(state);
	free(path);
	return 0;
}

void ks_session_free(struct ks_session *s)
{
	free(s->procs);
	free(s->order);
	if (s->procfd >= 0)
		close(s->procfd);
	*s = (struct ks_session){ .procfd = -1 };
}

/* Ends a scan that went through: what it read becomes the table. */
void ks_session_done(const struct ks_scan *scan, struct ks_session *s)
{
	if (s->n_unparsable > DEBUG_LINES_MAX)
		ks_log(s->log, LOG_DEBUG, "%zu more unparsable /proc entries skipped",
		       s->n_unparsable - DEBUG_LINES_MAX);
	if (scan->known) {
		free(scan->known->procs);
		scan->known->procs = TAKE_PTR(s->procs);
		scan->known->n = s->n;
	}
	ks_session_free(s);
}

/* Adds the processes of pids to s: known ones from the table, the others
 * read. Returns 0 or -errno. */
static int session_fill(const struct ks_scan *scan, struct ks_session *s, const pid_t *pids,
			size_t n_pids)
{
	const struct ks_proc_table *known = scan->known;
	size_t n_read = 0;

	for (size_t i = 0; i < n_pids; i++) {
		struct ks_proc *p = &s->procs[s->n];
		size_t at = known ? ks_proc_find(known->procs, known->n, pids[i]) : KS_NO_INDEX;
		int r = 0;

		/* The clock is read every few processes read: a session of
		 * thousands must not hold the close past its deadline. */
		if (at == KS_NO_INDEX && scan->deadline && n_read++ % DEADLINE_EVERY == 0 &&
		    ks_now_usec() >= scan->deadline)
			return -ETIMEDOUT;
		if (at != KS_NO_INDEX) {
			*p = known->procs[at];
			p->from_table = true;
		} else
			r = proc_read(s->procfd, pids[i], p);
		if (r == -ESRCH)
			continue; /* gone since the cgroup was read */
		if (r == -EINVAL) {
			note_unparsable(s, pids[i]);
			continue;
		}
		if (r < 0)
			return r;
		s->n++;
	}
	return 0;
}

/* Reads the session's processes' stat lines. */
int ks_session_load(const struct ks_scan *scan, struct ks_session *s, const struct ks_log *log)
{
	_cleanup_(freep) pid_t *pids = NULL;
	size_t n_pids = 0;
	int r;

	*s = (struct ks_session){ .procfd = -1, .log = log };
	if (scan)
		s->deadline = scan->deadline;
	if (!scan || !scan->proc_root || !scan->cgroup_root || !scan->cgroup)
		return -EINVAL;
	r = ks_cgroup_pids(scan->cgroup_root, scan->cgroup, scan->deadline, log, &pids, &n_pids);
	if (r < 0)
		return r;
	s->procfd = open(scan->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->procfd < 0)
		return -errno;
	s->procs = calloc(n_pids ? n_pids : 1, sizeof(*s->procs));
	r = s->procs ? session_fill(scan, s, pids, n_pids) : -ENOMEM;
	if (r >= 0)
		r = session_link(s);
	if (r < 0)
		ks_session_free(s);
	return r;
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
