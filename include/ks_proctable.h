/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_PROCTABLE_H
#define KS_PROCTABLE_H

/* The session's processes as a scan sees them: which are in the cgroup,
 * what was read of each, once per close, and the table kept across scans. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_strlist.h"

#define KS_NO_INDEX SIZE_MAX

/* What the scans of one close know about the session's processes (see
 * src/proctable.c for why reusing it is safe). Opaque. */
struct ks_proc_table;

/*
 * Everything is read below two roots passed in, so tests can fake both:
 * proc_root ("/proc") and cgroup_root, the mount point of the hierarchy
 * systemd tracks processes in (from ks_cgroup_mode_detect()). Only the
 * closing session's cgroup is read, so the cost grows with the session,
 * not with the host.
 */
struct ks_scan {
	const char *proc_root;
	const char *cgroup_root;
	const char *cgroup; /* the session's cgroup path, e.g.
			       /user.slice/user-1000.slice/session-3.scope */
	uid_t uid;          /* only processes whose real uid is this are ever selected */
	const struct ks_strlist *programs;
	uint64_t deadline; /* CLOCK_MONOTONIC usec; a scan past it is -ETIMEDOUT. 0: none */
	/* NULL: every scan reads /proc afresh. Else each scan reads /proc
	 * only for the pids it has not seen, and leaves what it read here. */
	struct ks_proc_table *known;
};

/* An empty table for the scans of one close; NULL without memory. */
struct ks_proc_table *ks_proc_table_new(void);
void ks_proc_table_free(struct ks_proc_table *t);

enum ks_uid_state {
	KS_UID_UNREAD,
	KS_UID_READ,
	KS_UID_UNKNOWN, /* status unreadable or unparsable: never selected */
};

/*
 * One process of the session. Read once per close, and only what the
 * decision needs: stat for every process, exe only where a match can
 * change the selection, status (the real uid) only for a process that
 * can be selected.
 */
struct ks_proc {
	pid_t pid;
	pid_t ppid;
	pid_t session;
	int tty_nr; /* the controlling terminal, 0 for none */
	uid_t uid;
	enum ks_uid_state uid_state;
	bool exe_read;
	bool from_table; /* taken from scan->known, not read by this scan */
	unsigned long long starttime;
	const char *match; /* the matched program entry, once exe_read */
	size_t parent;     /* index of ppid among the session's processes, or KS_NO_INDEX */
};

/* The session's processes as one scan sees them, with parents linked and
 * an order in which every parent comes before its children. */
struct ks_session {
	struct ks_proc *procs;
	size_t n;
	size_t *order;
	int procfd;
	const struct ks_log *log;
	size_t n_unparsable; /* logged one line each up to a bound, then counted */
	uint64_t deadline;   /* the scan's, for the status reads too */
	size_t n_late_reads; /* status and exe reads after the stat pass */
	bool timed_out;      /* one of those was due past the deadline */
};

/* Reads the session's processes (stat), linked and ordered. Returns 0
 * or -errno (-ETIMEDOUT past scan->deadline), not logged. */
int ks_session_load(const struct ks_scan *scan, struct ks_session *s, const struct ks_log *log);
/* Ends a scan that went through: what it read becomes scan->known, and
 * the unparsable entries past the logged ones are counted in one line. */
void ks_session_done(const struct ks_scan *scan, struct ks_session *s);
void ks_session_free(struct ks_session *s);

/* The index of pid among procs (sorted by pid), or KS_NO_INDEX. */
size_t ks_proc_find(const struct ks_proc *procs, size_t n, pid_t pid);
/* Is p's real uid uid? Read once, the first time it matters; a status
 * that cannot be read is no uid. Past the deadline nothing more is read:
 * no, and s->timed_out, for the caller to end the scan with -ETIMEDOUT. */
bool ks_session_uid_is(struct ks_session *s, struct ks_proc *p, uid_t uid);
/* The entry of programs p's executable matches, or NULL. Read once, the
 * first time it matters; past the deadline as ks_session_uid_is(). */
const char *ks_session_match(struct ks_session *s, struct ks_proc *p,
			     const struct ks_strlist *programs);
/* Reads the stat of p again when it came from the table: a start time
 * that changed is a process that reused the pid, and p becomes it, read
 * afresh. Returns 0 or -errno (p as it was, no longer from the table). */
int ks_session_refresh(struct ks_session *s, struct ks_proc *p);

/* How many processes ks_session_may_hold() reads the exe of at most: a
 * larger session is taken to hold something, and pays the full scan. Its
 * cgroup.procs is not read past the first pid over the bound. */
#define KS_MAY_HOLD_MAX_PROCS 256

/*
 * May the session cgroup hold a process whose executable matches one of
 * scan->programs (uid not checked)? The cheap question before the opt-in
 * read: cgroup.procs and the exe links only, stopping at the first match.
 * Returns 1 on a match or when it cannot tell (cgroup unreadable, more
 * than KS_MAY_HOLD_MAX_PROCS processes, past scan->deadline), 0 when
 * certainly none matches. Never logs: a failure is the full scan's.
 */
int ks_session_may_hold(const struct ks_scan *scan);

#endif
