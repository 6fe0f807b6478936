/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The close_session work: find the trees to keep, ask systemd to move
 * them, wait, then move the rest of each tree. The scan comes first
 * because it is local and cheap: systemd is only contacted when there is
 * something to keep, so a logout with nothing to keep costs no bus traffic.
 * The one exception is the glue's early start (ks_keep_early()), made
 * while the opt-in file is read once the session runs one of the admin's
 * programs: a user the file then does not keep costs that connection.
 * With when = kill, logind and the manager are asked at once, on one
 * connection (reach.c): a user logind spares costs the manager's setup
 * reads (Version, ListJobs).
 *
 * Each scope is started with the multiplexer alone, and the rest of its
 * tree is attached afterwards (AttachProcessesToUnit, rescanning between
 * rounds). systemd fails the whole scope when any PID it was given has
 * exited by the time it moves it (result "resources", seen on 247, 252 and
 * 257 with a pane that forks short-lived children), and what it had moved
 * by then dies with the failed scope. The multiplexer is pinned by pidfd
 * and long-lived; its descendants are attached in batches that a vanished
 * process cannot fail for the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_attach.h"
#include "ks_bus.h"
#include "ks_cleanup.h"
#include "ks_failpolicy.h"
#include "ks_keeper.h"
#include "ks_logind.h"
#include "ks_mover.h"
#include "ks_procfs.h"
#include "ks_program.h"
#include "ks_reach.h"

/* Is now past deadline or the close's own? */
static bool past_at(const struct keep_run *run, uint64_t deadline, uint64_t now)
{
	return now >= deadline || now >= run->deadline;
}

static void unpin_root(struct kept_tree *k)
{
	if (k->root_pidfd >= 0)
		close(k->root_pidfd);
	k->root_pidfd = -1;
}

/* Starts k's scope; now is when the caller decided there was time. */
static int start_tree(struct keep_run *run, struct ks_mover *m, struct kept_tree *k, uint64_t now)
{
	const char *program = ks_program_base_name(k->tree->program);
	pid_t root = k->tree->procs[0].pid;
	char description[256], prog[64], user[64], session[32];
	struct ks_scope_request req = {
		.unit = k->unit,
		.description = description,
		.slice = run->c->slice,
		.uid = run->t->uid,
		.runtime_max_usec = run->c->max_age_usec,
		.pids = &root,
		.pidfds = &k->root_pidfd,
		.n = 1,
	};
	int r;

	r = ks_scope_name(run->t->user, program, root, k->unit, sizeof(k->unit));
	if (r < 0) {
		char why[64];

		(void)snprintf(why, sizeof(why), "cannot name its scope: %s", strerror(-r));
		ks_attach_tree_lost(run, k->tree, why);
		k->said = true;
		return r;
	}
	/* ASCII only, so that cutting it anywhere leaves valid UTF-8. */
	(void)snprintf(description, sizeof(description),
		       "%s of user %s kept from session %s by pam_keepsession",
		       ks_bus_text(program, prog, sizeof(prog)),
		       ks_bus_text(run->t->user, user, sizeof(user)),
		       ks_bus_text(run->t->session_id, session, sizeof(session)));

	run->stats.calls++;
	run->stats.scopes++;
	/* Counted by the decision's clock reading: a preemption between it
	 * and the call is the scheduler's, not a call begun late. */
	if (now >= ks_mover_deadline(m))
		run->stats.late_calls++;
	r = ks_mover_start(m, &req);
	if (r == -ESRCH)
		return r; /* the root exited: the caller re-roots */
	if (r < 0) {
		char why[KS_UNIT_NAME_MAX + 64];

		/* What the mover could not record as a failed job. */
		(void)snprintf(why, sizeof(why), "cannot start %s: %s", k->unit, strerror(-r));
		ks_attach_tree_lost(run, k->tree, why);
		k->said = true;
		return r;
	}
	k->job = r;
	return 0;
}

static const char *job_outcome(const struct ks_mover *m, int job)
{
	switch (ks_mover_job_state(m, (size_t)job)) {
	case KS_JOB_TIMEOUT:
		return "no answer from systemd in time (PID 1 may still start the scope)";
	case KS_JOB_FAILED: {
		const char *result = ks_mover_job_result(m, (size_t)job);

		return result ? result : "failed";
	}
	default:
		return "not started";
	}
}

/* Starts the scopes of kept[from..to), while there is time for starts. */
static void start_trees(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			size_t from, size_t to, uint64_t starts_deadline, size_t *n_late)
{
	for (size_t i = from; i < to; i++) {
		uint64_t now = ks_now_usec();

		/* Past the deadline, no more calls: one line says what was
		 * left, at the end. */
		if (past_at(run, starts_deadline, now)) {
			(*n_late)++;
			continue;
		}
		/* A failed start is a failed job, said by settle_starts()
		 * (else start_tree() said it); a root that exited
		 * meanwhile is re-rooted by the caller. */
		(void)start_tree(run, m, &kept[i], now);
	}
}

/* Did the tree's scope not start, and has its root exited? Then systemd
 * had nothing to move (systemd >= 255 fails the job with "resources",
 * older ones refuse the call), and the tree is lost, not failed. */
static bool root_exited(const struct keep_run *run, const struct ks_mover *m,
			const struct kept_tree *k)
{
	if (k->said || (k->job >= 0 && ks_mover_job_state(m, (size_t)k->job) == KS_JOB_DONE))
		return false;
	return ks_proc_gone(run->procfd, &k->tree->procs[0], k->root_pidfd);
}

/* The kept line: how many processes really moved, and a warning when
 * some of the tree could not follow. */
static void log_kept(const struct keep_run *run, const struct kept_tree *k, bool complete)
{
	const char *program = ks_program_base_name(k->tree->program);
	size_t missed = k->n_missed;

	if (!complete && k->tree->n > k->n_moved + missed)
		missed = k->tree->n - k->n_moved;
	if (missed == 0) {
		ks_log(run->log, LOG_INFO,
		       "kept %s (pid %d, %zu process(es)) of user %s from session %s in %s",
		       program, (int)k->tree->procs[0].pid, k->n_moved, run->t->user,
		       run->t->session_id, k->unit);
		return;
	}
	ks_fail_log(run->log, KS_FAIL_ATTACH_PARTIAL,
		    "kept %s (pid %d, %zu process(es)) of user %s from session %s in %s; "
		    "%zu more could not be attached%s%s%s",
		    program, (int)k->tree->procs[0].pid, k->n_moved, run->t->user,
		    run->t->session_id, k->unit, missed, complete ? "" : " in time",
		    k->attach_why ? ": " : "", k->attach_why ? k->attach_why : "");
}

/* One move of the selected trees: the manager, its jobs, the trees. */
struct move {
	struct ks_selection rerooted, rerooted_again;
	struct ks_members *members;      /* of the selection, read once the roots are asked for */
	const struct ks_tree **unpinned; /* whose root exited before its pin */
	size_t n_unpinned;
	struct ks_reach *reach; /* the manager, its mover */
	struct kept_tree *kept;
	size_t n_pinned, n_over, n_late;
	/* Starts and their jobs may not eat the time of the attaching:
	 * a scope with the multiplexer alone keeps no pane. */
	uint64_t starts_deadline;
};

/* Room for max_trees: pin_roots() and reroot() stop there. Not a count
 * from the scan: a tree re-rooted after its start (restart_lost()) is
 * rooted in processes a later rescan found, which the first scan may
 * never have seen. */
static struct kept_tree *kept_alloc(unsigned max_trees)
{
	return calloc(max_trees ? max_trees : 1, sizeof(struct kept_tree));
}

/* Roots that exited after their pin, before systemd took them: once
 * more, their trees are re-rooted and started. */
static int restart_lost(struct keep_run *run, struct move *mv)
{
	const struct ks_tree **lost = calloc(mv->n_pinned + 1, sizeof(const struct ks_tree *));
	size_t n_lost = 0, first = mv->n_pinned;

	if (!lost)
		return -ENOMEM;
	for (size_t i = 0; i < mv->n_pinned; i++)
		if (root_exited(run, mv->reach->mover, &mv->kept[i])) {
			lost[n_lost++] = mv->kept[i].tree;
			mv->kept[i].gone = true;
		}
	/* Every tree pinned so far cost a start, lost or not: max_trees
	 * bounds what PID 1 is asked for, not what it kept. */
	if (n_lost > 0 && !past_at(run, mv->starts_deadline, ks_now_usec())) {
		mv->n_pinned += reroot(run, lost, n_lost, &mv->rerooted_again,
				       mv->kept + mv->n_pinned, mv->n_pinned, &mv->n_over);
		start_trees(run, mv->reach->mover, mv->kept, first, mv->n_pinned,
			    mv->starts_deadline, &mv->n_late);
		(void)ks_mover_wait(mv->reach->mover);
	}
	free(lost);
	return 0;
}

/* What the start jobs did: a started tree has its root moved. */
static void settle_starts(struct keep_run *run, struct move *mv)
{
	for (size_t i = 0; i < mv->n_pinned; i++) {
		struct kept_tree *k = &mv->kept[i];

		unpin_root(k);
		if (k->gone) {
			ks_log(run->log, LOG_DEBUG, "%s (pid %d) exited before systemd took it",
			       ks_program_base_name(k->tree->program), (int)k->tree->procs[0].pid);
			/* A call systemd refused for another reason than the
			 * process being gone (no job path): said all the same. */
			if (k->job >= 0 && !ks_mover_job_path(mv->reach->mover, (size_t)k->job)[0])
				ks_attach_tree_lost(run, k->tree,
						    job_outcome(mv->reach->mover, k->job));
			continue;
		}
		if (k->job < 0)
			continue;
		if (ks_mover_job_state(mv->reach->mover, (size_t)k->job) != KS_JOB_DONE) {
			ks_attach_tree_lost(run, k->tree, job_outcome(mv->reach->mover, k->job));
			continue;
		}
		k->n_moved = 1;
	}
}

/* One line per kept tree, one for what was not. Returns the number kept. */
static int report(struct keep_run *run, const struct move *mv, bool complete)
{
	int n_kept = 0;

	for (size_t i = 0; i < mv->n_pinned; i++) {
		if (mv->kept[i].n_moved == 0)
			continue;
		log_kept(run, &mv->kept[i], complete);
		n_kept++;
	}
	if (mv->n_over > 0 || mv->n_late > 0 || run->n_lost_quiet > 0)
		ks_fail_log(
			run->log, mv->n_over > 0 ? KS_FAIL_MAX_TREES : KS_FAIL_DEADLINE,
			"not kept for user %s from session %s: %zu tree(s) over max_trees = %u, "
			"%zu for lack of time, %zu more that failed",
			run->t->user, run->t->session_id, mv->n_over, run->c->max_trees, mv->n_late,
			run->n_lost_quiet);
	return n_kept;
}

static void move_done(struct move *mv)
{
	for (size_t i = 0; i < mv->n_pinned; i++) {
		unpin_root(&mv->kept[i]);
		free(mv->kept[i].attach_why);
	}
	free(mv->kept);
	free(mv->unpinned);
	ks_selection_free(&mv->rerooted);
	ks_selection_free(&mv->rerooted_again);
	ks_members_free(mv->members);
}

/* The trees' members, read while systemd moves their roots. What cannot be
 * read in time is left to the rescans, as stragglers, if they have time. */
static void read_members(struct keep_run *run, struct ks_selection *sel, struct move *mv)
{
	int r = ks_select_members(&run->scan, TAKE_PTR(mv->members), sel, run->log);

	if (r < 0)
		ks_fail_log(run->log, KS_FAIL_DEADLINE,
			    "cannot read all the processes to keep for user %s from session %s: "
			    "%s",
			    run->t->user, run->t->session_id,
			    r == -ETIMEDOUT ? "no time left" : strerror(-r));
}

/* The trees whose root exited between the scan and its pin: re-rooted
 * from one rescan once their members are known, and started. */
static void restart_unpinned(struct keep_run *run, struct move *mv)
{
	size_t first = mv->n_pinned;

	mv->n_pinned += reroot(run, mv->unpinned, mv->n_unpinned, &mv->rerooted, mv->kept + first,
			       first, &mv->n_over);
	start_trees(run, mv->reach->mover, mv->kept, first, mv->n_pinned, mv->starts_deadline,
		    &mv->n_late);
}

static int move_trees(struct keep_run *run, struct ks_selection *sel, struct move *mv)
{
	bool complete;
	int r;

	mv->kept = kept_alloc(run->c->max_trees);
	mv->unpinned = calloc(sel->n ? sel->n : 1, sizeof(struct ks_tree *));
	if (!mv->kept || !mv->unpinned)
		return -ENOMEM;
	r = ks_reach_ready(run, mv->reach);
	if (r < 0 || ks_reach_user_stopping(run, mv->reach))
		return r;

	/* One open of proc_root for every pin of the run; when it fails,
	 * each pin says why. */
	run->procfd = open(run->io->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (run->procfd < 0)
		run->procfd = -errno;
	mv->n_pinned = pin_roots(run, sel, mv->kept, mv->unpinned, &mv->n_unpinned, &mv->n_over,
				 &mv->n_late);
	start_trees(run, mv->reach->mover, mv->kept, 0, mv->n_pinned, mv->starts_deadline,
		    &mv->n_late);
	/* While systemd moves the roots (the kernel's first move waits for
	 * an RCU grace period): the rest of each tree. */
	read_members(run, sel, mv);
	restart_unpinned(run, mv);
	(void)ks_mover_wait(mv->reach->mover);
	r = restart_lost(run, mv);
	if (r < 0)
		return r;
	/* Once per close, where a scope was asked for. */
	if (run->c->max_age_usec > 0 && run->stats.scopes > 0 &&
	    ks_mover_drops_max_age(mv->reach->mover))
		ks_fail_log(run->log, KS_FAIL_MAX_AGE_UNSUPPORTED,
			    "max_age needs systemd >= %d; no limit", KS_SD_SCOPE_RUNTIME_MAX);
	settle_starts(run, mv);

	/* The rest of the time, up to the deadline, is the attaching's. */
	ks_mover_set_deadline(mv->reach->mover, run->deadline);
	complete = ks_attach_descendants(run, mv->reach->mover, mv->kept, mv->n_pinned);
	return report(run, mv, complete);
}

/* Our own cgroup must be this session's scope: anything else means we are
 * not where the module is meant to run, and nothing is touched. */
static bool is_session_scope(const char *cgroup, const char *session_id)
{
	char expected[128];
	const char *last = strrchr(cgroup, '/');

	if (!last || !session_id)
		return false;
	if (snprintf(expected, sizeof(expected), "session-%s.scope", session_id) >=
	    (int)sizeof(expected))
		return false;
	return strcmp(last + 1, expected) == 0;
}

/* The first scan: the trees to keep, into sel, their roots alone; the rest
 * of each is read into sel from *members once the roots' scopes are asked
 * for. Returns their number, or -errno (logged). */
static int select_trees(struct keep_run *run, struct ks_selection *sel, struct ks_members **members)
{
	const struct ks_keep_target *t = run->t;
	int r;

	run->scan = (struct ks_scan){
		.proc_root = run->io->proc_root,
		.cgroup_root = run->io->cgroup_root,
		.cgroup = run->io->session_cgroup,
		.uid = t->uid,
		.programs = t->programs,
		.deadline = run->deadline,
		/* What this scan reads, the rescans reuse (NULL without
		 * memory: they read afresh). */
		.known = ks_proc_table_new(),
	};
	run->stats.scans++;
	r = ks_select_roots(&run->scan, sel, members, run->log);
	if (r < 0) {
		ks_fail_log(run->log, KS_FAIL_CGROUP_UNKNOWN,
			    "cannot list the processes of session %s (cgroup %s): %s",
			    t->session_id, run->io->session_cgroup,
			    r == -ETIMEDOUT ? "no time left" : strerror(-r));
		return r;
	}
	run->stats.selected = sel->n;
	if (sel->n == 0) {
		(void)ks_select_members(&run->scan, TAKE_PTR(*members), sel, run->log);
		ks_log(run->log, LOG_DEBUG, "nothing to keep for %s in session %s", t->user,
		       t->session_id);
	}
	return (int)sel->n;
}

/* Selects; then asks logind (when = kill) and connects to the manager at
 * once, so that both set up while the other answers, unless the caller
 * began that already (early); then moves. */
static int keep_session(struct keep_run *run, struct ks_keep_early *early)
{
	struct ks_selection sel = { 0 };
	struct move mv = { .starts_deadline = run->deadline - run->c->timeout_usec / 4 };
	struct ks_keep_early own, *e = early;
	int r;

	if (!e) {
		ks_keep_early_init(&own, run->start, run->deadline, mv.starts_deadline);
		e = &own;
	}
	mv.reach = &e->reach;
	r = select_trees(run, &sel, &mv.members);
	if (r > 0) {
		if (!early)
			ks_reach_begin(run, e);
		r = run->c->when == KS_WHEN_KILL && !ks_reach_logind_kills(run, &e->ask) ?
			    0 :
			    move_trees(run, &sel, &mv);
	}
	move_done(&mv);
	if (!early)
		ks_reach_end(&own);
	ks_selection_free(&sel);
	return r;
}

int ks_keep(const struct ks_config *c, const struct ks_keep_target *t, const struct ks_keep_io *io,
	    const struct ks_log *log)
{
	struct keep_run run = { .c = c, .t = t, .io = io, .log = log, .procfd = -EBADF };
	const char *cgroup = io->session_cgroup;
	int r;

	run.start = io->early ? io->early->start : ks_now_usec();
	run.deadline = io->early ? io->early->deadline : run.start + c->timeout_usec;
	run.stats.calls = io->early ? io->early->calls : 0;
	if (!cgroup || !is_session_scope(cgroup, t->session_id)) {
		ks_fail_log(log, KS_FAIL_MISPLACED,
			    "not running in the scope of session %s (cgroup %s); nothing kept",
			    t->session_id, cgroup ? cgroup : "unknown");
		r = 0;
	} else {
		r = keep_session(&run, io->early);
		ks_proc_table_free(run.scan.known);
		if (run.procfd >= 0)
			close(run.procfd);
	}
	ks_keep_early_free(io->early);
	run.stats.kept = r > 0 ? (size_t)r : 0;
	run.stats.deadline = run.deadline;
	run.stats.end = ks_now_usec();
	if (io->stats)
		*io->stats = run.stats;
	return r;
}
