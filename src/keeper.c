/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The close_session work: find the trees to keep, ask systemd to move
 * them, wait, then move the rest of each tree. The scan comes first
 * because it is local and cheap: systemd is only contacted when there is
 * something to keep, so a logout with nothing to keep costs no bus traffic.
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
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_keeper.h"
#include "ks_mover.h"
#include "ks_policy.h"
#include "ks_proctree.h"
#include "ks_unitname.h"

/* Descendants asked for in one AttachProcessesToUnit: each is pinned by a
 * pidfd held during the call, so this bounds the fds open at once. */
#define ATTACH_BATCH_MAX 128
/* Tries of one batch when systemd refuses it because a process exited,
 * and how many times deep it may be halved when that keeps happening. */
#define ATTACH_TRIES 3
#define ATTACH_SPLITS 4
/* Trees named one line each when they could not be kept; beyond, a count. */
#define LOST_LINES_MAX 4

/* One tree on its way to systemd. */
struct kept_tree {
	const struct ks_tree *tree;
	int root_pidfd;  /* -1 without pidfd_open */
	int job;         /* index in the mover's jobs, or -1 */
	size_t n_moved;  /* processes in the scope, as far as we know */
	size_t n_missed; /* descendants seen but not attached */
	bool gone;       /* the root exited before systemd took it: re-rooted */
	char unit[KS_UNIT_NAME_MAX + 1];
};

/* One close_session: what every step needs, and what it counts. */
struct keep_run {
	const struct ks_config *c;
	const struct ks_keep_target *t;
	const struct ks_keep_io *io;
	const struct ks_log *log;
	struct ks_scan scan;
	uint64_t start, deadline;
	struct ks_keep_stats stats;
	size_t n_lost_lines; /* "could not keep" lines logged */
	size_t n_lost_quiet; /* trees not kept beyond LOST_LINES_MAX */
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Printable ASCII for text that goes over the bus: sd-bus refuses a
 * string that is not valid UTF-8, and a program name is only bytes. */
static const char *bus_text(const char *in, char *out, size_t size)
{
	size_t i;

	for (i = 0; i + 1 < size && in[i]; i++) {
		unsigned char ch = (unsigned char)in[i];

		out[i] = (char)(ch >= 0x20 && ch < 0x7f ? ch : '?');
	}
	out[i] = '\0';
	return out;
}

static bool past(const struct keep_run *run, uint64_t deadline)
{
	return ks_now_usec() >= deadline || ks_now_usec() >= run->deadline;
}

/* A tree selected that is not kept: one line each for the first few,
 * then only counted, for one summary line. */
static void tree_lost(struct keep_run *run, const struct ks_tree *tree, const char *why)
{
	if (run->n_lost_lines >= LOST_LINES_MAX) {
		run->n_lost_quiet++;
		return;
	}
	run->n_lost_lines++;
	ks_log(run->log, LOG_ERR, "could not keep %s (pid %d) of user %s from session %s: %s",
	       base_name(tree->program), (int)tree->procs[0].pid, run->t->user, run->t->session_id,
	       why);
}

/* Does logind kill this user's processes at logout? An answer we cannot
 * get is taken as yes: keeping is what the admin and the user asked for,
 * and the mover will tell whether systemd can be reached at all. */
static bool logind_kills(const struct ks_keep_target *t, const struct ks_keep_io *io,
			 uint64_t deadline, const struct ks_log *log)
{
	struct ks_strlist only = { 0 }, exclude = { 0 };
	bool kill_user_processes = false, kills = true;
	sd_bus *bus = NULL;
	int r;

	r = io->open_logind(io->ctx, &bus);
	if (r >= 0)
		r = ks_logind_kill_settings(bus, deadline, &kill_user_processes, &only, &exclude);
	if (r < 0)
		ks_log(log, LOG_WARNING,
		       "cannot read logind's KillUserProcesses settings (%s); keeping anyway",
		       strerror(-r));
	else
		kills = ks_policy_logind_kills(t->user, kill_user_processes, &only, &exclude);

	ks_strlist_clear(&only);
	ks_strlist_clear(&exclude);
	if (bus)
		sd_bus_close_unref(bus);
	return kills;
}

/* Pins a process by pidfd and checks it is still the one scanned. Returns
 * the pidfd, -1 when pidfds are not to be had (kernel < 5.3, or refused by
 * seccomp) and the identity alone matched, -ESRCH when it exited or is
 * another process now, or another -errno when it cannot be checked. */
static int pin(const struct keep_run *run, const struct ks_proc_id *id)
{
	unsigned long long starttime;
	uid_t owner;
	int fd, r;

	fd = ks_proc_pin(run->io->proc_root, id, run->t->uid);
	if (fd != -ENOSYS)
		return fd;
	r = ks_proc_identity(run->io->proc_root, id->pid, &starttime, &owner);
	if (r == -EINVAL || (r == 0 && (starttime != id->starttime || owner != run->t->uid)))
		return -ESRCH;
	return r < 0 ? r : -1;
}

/* Has the pinned process exited? A pidfd polls readable once it has;
 * without one, its identity is read again. */
static bool pin_gone(const struct keep_run *run, const struct ks_proc_id *id, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (fd < 0)
		return pin(run, id) == -ESRCH;
	return poll(&p, 1, 0) > 0;
}

static void unpin_root(struct kept_tree *k)
{
	if (k->root_pidfd >= 0)
		close(k->root_pidfd);
	k->root_pidfd = -1;
}

static int start_tree(struct keep_run *run, struct ks_mover *m, struct kept_tree *k)
{
	const char *program = base_name(k->tree->program);
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
		ks_log(run->log, LOG_ERR, "cannot name a scope for %s (pid %d) of user %s: %s",
		       bus_text(program, prog, sizeof(prog)), (int)root, run->t->user,
		       strerror(-r));
		return r;
	}
	/* ASCII only, so that cutting it anywhere leaves valid UTF-8. */
	(void)snprintf(description, sizeof(description),
		       "%s of user %s kept from session %s by pam_keepsession",
		       bus_text(program, prog, sizeof(prog)),
		       bus_text(run->t->user, user, sizeof(user)),
		       bus_text(run->t->session_id, session, sizeof(session)));

	run->stats.calls++;
	run->stats.scopes++;
	if (ks_now_usec() >= m->deadline)
		run->stats.late_calls++;
	r = ks_mover_start(m, &req);
	if (r < 0)
		return r; /* the mover logged why */
	k->job = r;
	return 0;
}

/* Appends ids (and their owner) to growing arrays. */
static int append_ids(struct ks_proc_id **ids, size_t **owners, size_t *n,
		      const struct ks_proc_id *more, const size_t *more_owners, size_t n_more)
{
	struct ks_proc_id *grown;
	size_t *grown_owners;

	grown = realloc(*ids, (*n + n_more) * sizeof(**ids));
	if (!grown)
		return -ENOMEM;
	*ids = grown;
	grown_owners = realloc(*owners, (*n + n_more) * sizeof(**owners));
	if (!grown_owners)
		return -ENOMEM;
	*owners = grown_owners;
	memcpy(grown + *n, more, n_more * sizeof(*more));
	memcpy(grown_owners + *n, more_owners, n_more * sizeof(*more_owners));
	*n += n_more;
	return 0;
}

/* Pinned processes of one batch, kept in step. */
struct pinned {
	struct ks_proc_id ids[ATTACH_BATCH_MAX];
	pid_t pids[ATTACH_BATCH_MAX];
	int fds[ATTACH_BATCH_MAX];
	size_t n;
};

/* Closes the pidfds of p[from..from+n). */
static void unpin_range(struct pinned *p, size_t from, size_t n)
{
	for (size_t i = from; i < from + n; i++)
		if (p->fds[i] >= 0) {
			close(p->fds[i]);
			p->fds[i] = -1;
		}
}

/* Drops the processes of p[from..from+*n) that exited (their pidfd polls
 * readable, or without one, /proc says so), closing their pidfds. Returns
 * how many were dropped. */
static size_t drop_exited(const struct keep_run *run, struct pinned *p, size_t from, size_t *n)
{
	size_t kept = from;

	for (size_t i = from; i < from + *n; i++) {
		if (pin_gone(run, &p->ids[i], p->fds[i])) {
			if (p->fds[i] >= 0)
				close(p->fds[i]);
			continue;
		}
		p->ids[kept] = p->ids[i];
		p->pids[kept] = p->pids[i];
		p->fds[kept++] = p->fds[i];
	}
	/* Unused slots past the kept ones hold no open fd. */
	for (size_t i = kept; i < from + *n; i++)
		p->fds[i] = -1;
	{
		size_t dropped = from + *n - kept;

		*n = kept - from;
		return dropped;
	}
}

/*
 * AttachProcessesToUnit for p[from..from+n). systemd refuses a whole batch
 * when one of its processes exited; the exited ones are dropped and the
 * rest asked for again, at most ATTACH_TRIES times. Where processes keep
 * exiting (a pane forking short-lived children), the batch is halved,
 * oldest first, at most ATTACH_SPLITS times deep, so that the long-lived
 * ones (the panes' shells) are not given up with the short-lived ones.
 * Returns the number attached; *missed counts those given up.
 */
static size_t attach_pinned(struct keep_run *run, struct ks_mover *m, const char *unit,
			    struct pinned *p, size_t from, size_t n, unsigned depth, size_t *missed)
{
	for (unsigned try = 0; n > 0 && try < ATTACH_TRIES; try++) {
		int r;

		if (ks_now_usec() >= m->deadline)
			break;
		run->stats.calls++;
		r = ks_mover_attach(m, unit, p->pids + from, n);
		if (r >= 0) {
			unpin_range(p, from, n);
			return n;
		}
		if (r != -ESRCH) {
			/* Logged by the mover; the same for every process. */
			unpin_range(p, from, n);
			*missed += n;
			return 0;
		}
		if (drop_exited(run, p, from, &n) == 0)
			break; /* systemd says one is gone, and none is */
	}
	if (n > 1 && depth < ATTACH_SPLITS && ks_now_usec() < m->deadline) {
		size_t half = n / 2;

		return attach_pinned(run, m, unit, p, from, half, depth + 1, missed) +
		       attach_pinned(run, m, unit, p, from + half, n - half, depth + 1, missed);
	}
	unpin_range(p, from, n);
	*missed += n;
	return 0;
}

static int cmp_starttime(const void *a, const void *b)
{
	unsigned long long x = ((const struct ks_proc_id *)a)->starttime;
	unsigned long long y = ((const struct ks_proc_id *)b)->starttime;

	return (x > y) - (x < y);
}

/*
 * Attaches at most ATTACH_BATCH_MAX processes of one tree. Each is pinned
 * and its identity checked right before the call, the pidfds held during
 * it, so that a reused pid can only slip in within one round trip.
 * Returns the number attached.
 */
static size_t attach_chunk(struct keep_run *run, struct ks_mover *m, struct kept_tree *k,
			   struct ks_proc_id *ids, size_t n)
{
	struct pinned p = { .n = 0 };

	/* Oldest first: when a batch is halved, the long-lived processes
	 * go together. */
	qsort(ids, n, sizeof(*ids), cmp_starttime);
	for (size_t i = 0; i < n; i++) {
		int fd = pin(run, &ids[i]);

		if (fd == -ESRCH)
			continue; /* exited: nothing to move */
		if (fd < -1) {
			k->n_missed++;
			continue;
		}
		p.ids[p.n] = ids[i];
		p.pids[p.n] = ids[i].pid;
		p.fds[p.n++] = fd;
	}
	return attach_pinned(run, m, k->unit, &p, 0, p.n, 0, &k->n_missed);
}

/*
 * Moves the rest of every kept tree, the descendants still in the session
 * cgroup, into its scope: one rescan per round for all trees together, so
 * that children forked meanwhile follow and exited ones are not asked for.
 * The rounds are bounded, and each scan and call checks the deadline: a
 * tree that forks without end, or a session of thousands, must not hold
 * the logout. Returns false when the deadline cut the rounds short.
 */
static bool attach_descendants(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			       size_t n_kept)
{
	struct ks_proc_id *asked = NULL;
	size_t *asked_tree = NULL, n_asked = 0;
	bool complete = true;

	for (size_t i = 0; i < n_kept; i++) {
		if (kept[i].job < 0 || m->jobs[kept[i].job].state != KS_JOB_DONE)
			continue;
		if (append_ids(&asked, &asked_tree, &n_asked, &kept[i].tree->procs[0], &i, 1) < 0)
			goto out;
	}
	for (unsigned round = 0; n_asked > 0 && round < KS_MAX_ATTACH_ROUNDS; round++) {
		struct ks_proc_id *found = NULL;
		size_t *owner = NULL, n_found = 0;
		int r;

		if (ks_now_usec() >= run->deadline) {
			complete = false;
			break;
		}
		run->stats.scans++;
		r = ks_select_stragglers_owned(&run->scan, asked, n_asked, &found, &owner,
					       &n_found);
		if (r == -ETIMEDOUT)
			complete = false;
		if (r < 0 || n_found == 0) {
			free(found);
			free(owner);
			break;
		}
		/* Owners are indexes in asked; each maps to its tree. */
		for (size_t i = 0; i < n_found; i++)
			owner[i] = asked_tree[owner[i]];
		for (size_t t = 0; t < n_kept; t++) {
			struct ks_proc_id batch[ATTACH_BATCH_MAX];
			size_t n_batch = 0, seen = 0;

			for (size_t i = 0; i < n_found; i++) {
				if (owner[i] != t)
					continue;
				seen++;
				batch[n_batch++] = found[i];
				if (n_batch == ATTACH_BATCH_MAX) {
					kept[t].n_moved +=
						attach_chunk(run, m, &kept[t], batch, n_batch);
					n_batch = 0;
				}
			}
			if (n_batch > 0)
				kept[t].n_moved += attach_chunk(run, m, &kept[t], batch, n_batch);
			if (seen > 0)
				ks_log(run->log, LOG_DEBUG, "round %u: %zu process(es) for %s",
				       round, seen, kept[t].unit);
		}
		/* What was asked for is not asked for again, attached or not:
		 * a process systemd refuses must not cost every round. */
		r = append_ids(&asked, &asked_tree, &n_asked, found, owner, n_found);
		free(found);
		free(owner);
		if (r < 0)
			break;
		if (ks_now_usec() >= run->deadline) {
			complete = false;
			break;
		}
	}
out:
	free(asked);
	free(asked_tree);
	return complete;
}

static const char *job_outcome(const struct ks_job *job)
{
	switch (job->state) {
	case KS_JOB_TIMEOUT:
		return "no answer from systemd in time (PID 1 may still start the scope)";
	case KS_JOB_FAILED:
		return job->result ? job->result : "failed";
	default:
		return "not started";
	}
}

/* Is id one of the processes of a tree? */
static bool tree_has(const struct ks_tree *tree, const struct ks_proc_id *id)
{
	for (size_t i = 0; i < tree->n; i++)
		if (tree->procs[i].pid == id->pid && tree->procs[i].starttime == id->starttime)
			return true;
	return false;
}

/*
 * Re-roots lost trees, those whose root exited before systemd took it (an
 * attached screen client dies of SIGHUP right at a dropped connection):
 * one rescan for all of them, and the trees rooted in their members (the
 * re-parented SCREEN) are pinned into dest[] in their place, in_use
 * trees being pinned (and so started or about to be) already, within
 * max_trees. Returns the number added.
 */
static size_t reroot(struct keep_run *run, const struct ks_tree *const *lost, size_t n_lost,
		     struct ks_selection *rescan, struct kept_tree *dest, size_t in_use,
		     size_t *n_over)
{
	size_t added = 0;
	int r;

	if (n_lost == 0 || ks_now_usec() >= run->deadline)
		return 0;
	run->stats.scans++;
	r = ks_select_trees(&run->scan, rescan, NULL);
	if (r < 0) {
		ks_log(run->log, LOG_DEBUG, "rescan for %zu lost tree(s): %s", n_lost,
		       strerror(-r));
		return 0;
	}
	for (size_t j = 0; j < rescan->n; j++) {
		const struct ks_tree *tree = &rescan->trees[j];
		bool member = false;
		int fd;

		/* A member of a lost tree, not its root again: that one is
		 * known gone, whatever /proc still says. */
		for (size_t i = 0; i < n_lost && !member; i++)
			member = tree_has(lost[i], &tree->procs[0]) &&
				 lost[i]->procs[0].pid != tree->procs[0].pid;
		if (!member)
			continue;
		if (in_use + added >= run->c->max_trees) {
			(*n_over)++;
			continue;
		}
		fd = pin(run, &tree->procs[0]);
		if (fd < -1) { /* -ESRCH included */
			tree_lost(run, tree, fd == -ESRCH ? "it exited" : strerror(-fd));
			continue;
		}
		ks_log(run->log, LOG_DEBUG, "%s (pid %d) replaces a tree whose root exited",
		       base_name(tree->program), (int)tree->procs[0].pid);
		dest[added++] = (struct kept_tree){ .tree = tree, .root_pidfd = fd, .job = -1 };
	}
	/* A lost tree with no matched process left below its root ended
	 * with it (a client that exited): nothing was there to keep. */
	return added;
}

/*
 * Pins the roots, at most max_trees; the trees whose root exited since
 * the scan are re-rooted. Returns the number of trees pinned into kept[];
 * *n_over counts those left out by max_trees, *n_late those left for lack
 * of time.
 */
static size_t pin_roots(struct keep_run *run, const struct ks_selection *sel,
			struct ks_selection *rescan, struct kept_tree *kept, size_t *n_over,
			size_t *n_late)
{
	const struct ks_tree **lost;
	size_t n_pinned = 0, n_lost = 0;

	lost = calloc(sel->n ? sel->n : 1, sizeof(const struct ks_tree *));
	if (!lost)
		return 0;
	for (size_t i = 0; i < sel->n; i++) {
		int fd;

		if (n_pinned >= run->c->max_trees) {
			(*n_over)++;
			continue;
		}
		if (ks_now_usec() >= run->deadline) {
			(*n_late)++;
			continue;
		}
		fd = pin(run, &sel->trees[i].procs[0]);
		if (fd == -ESRCH) {
			lost[n_lost++] = &sel->trees[i];
			continue;
		}
		if (fd < -1) {
			char why[128];

			(void)snprintf(why, sizeof(why), "cannot pin it: %s", strerror(-fd));
			tree_lost(run, &sel->trees[i], why);
			continue;
		}
		kept[n_pinned++] =
			(struct kept_tree){ .tree = &sel->trees[i], .root_pidfd = fd, .job = -1 };
	}
	n_pinned += reroot(run, lost, n_lost, rescan, kept + n_pinned, n_pinned, n_over);
	free(lost);
	return n_pinned;
}

/* Starts the scopes of kept[from..to), while there is time for starts. */
static void start_trees(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			size_t from, size_t to, uint64_t starts_deadline, size_t *n_late)
{
	for (size_t i = from; i < to; i++) {
		/* Past the deadline, no more calls: one line says what was
		 * left, at the end. */
		if (past(run, starts_deadline)) {
			(*n_late)++;
			continue;
		}
		/* On failure the mover said why, naming the scope; a root
		 * that exited meanwhile is re-rooted by the caller. */
		(void)start_tree(run, m, &kept[i]);
	}
}

/* Did the tree's scope not start, and has its root exited? Then systemd
 * had nothing to move (systemd >= 255 fails the job with "resources",
 * older ones refuse the call), and the tree is lost, not failed. */
static bool root_exited(const struct keep_run *run, const struct ks_mover *m,
			const struct kept_tree *k)
{
	if (k->job >= 0 && m->jobs[k->job].state == KS_JOB_DONE)
		return false;
	return pin_gone(run, &k->tree->procs[0], k->root_pidfd);
}

/* The kept line: how many processes really moved, and a warning when
 * some of the tree could not follow. */
static void log_kept(const struct keep_run *run, const struct kept_tree *k, bool complete)
{
	const char *program = base_name(k->tree->program);
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
	ks_log(run->log, LOG_WARNING,
	       "kept %s (pid %d, %zu process(es)) of user %s from session %s in %s; "
	       "%zu more could not be attached%s",
	       program, (int)k->tree->procs[0].pid, k->n_moved, run->t->user, run->t->session_id,
	       k->unit, missed, complete ? "" : " in time");
}

/*
 * Admins keep the last word: while the user is stopped as a whole
 * (terminate-user), nothing is kept, or a multiplexer that outlived the
 * stop guard's pass (one that ignores SIGTERM) would escape it here, in
 * sshd's close after the guard. When the manager cannot tell, the trees
 * are kept, as the guard does: a missed terminate-user leaves a scope an
 * admin can stop, a wrong answer would take a tmux at an ordinary logout.
 */
static bool user_being_stopped(struct keep_run *run, sd_bus *bus, uint64_t deadline)
{
	char unit[64];
	int r;

	if (run->io->user_stop_checked)
		return false;
	run->stats.calls++;
	r = ks_user_stopping(ks_unit_stopping, bus, run->t->uid, deadline, unit, sizeof(unit));
	if (r > 0) {
		ks_log(run->log, LOG_NOTICE,
		       "user %s is being stopped (stop job on %s): nothing kept from session %s",
		       run->t->user, unit, run->t->session_id);
		return true;
	}
	if (r < 0)
		ks_log(run->log, LOG_WARNING,
		       "cannot tell whether user %s is being stopped (%s), keeping as for a logout",
		       run->t->user, strerror(-r));
	return false;
}

static int move_trees(struct keep_run *run, const struct ks_selection *sel)
{
	struct ks_selection rerooted = { 0 }, rerooted_again = { 0 };
	struct ks_mover mover = { 0 };
	struct kept_tree *kept;
	size_t n_pinned = 0, n_over = 0, n_late = 0;
	/* Starts and their jobs may not eat the time of the attaching:
	 * a scope with the multiplexer alone keeps no pane. */
	uint64_t starts_deadline = run->deadline - run->c->timeout_usec / 4;
	const struct ks_keep_target *t = run->t;
	sd_bus *bus = NULL;
	bool complete;
	int r, n_kept = 0;

	/* Room for every tree, and for a re-rooted one per member of a
	 * lost tree, twice (after the pin, after the start); max_trees caps
	 * how many are used. */
	{
		size_t room = sel->n + 1;

		for (size_t i = 0; i < sel->n; i++)
			room += 2 * sel->trees[i].n;
		kept = calloc(room, sizeof(*kept));
		if (!kept)
			return -ENOMEM;
	}

	r = run->io->open_manager(run->io->ctx, &bus);
	if (r < 0) {
		ks_log(run->log, LOG_ERR,
		       "cannot reach the systemd manager, nothing kept for %s: %s", t->user,
		       strerror(-r));
		goto out;
	}
	run->stats.calls++;
	r = ks_mover_open(&mover, bus, starts_deadline, run->log);
	if (r < 0) {
		ks_log(run->log, LOG_ERR,
		       "cannot talk to the systemd manager, nothing kept for %s: %s", t->user,
		       strerror(-r));
		goto out;
	}
	if (user_being_stopped(run, bus, starts_deadline)) {
		r = 0;
		goto out;
	}

	n_pinned = pin_roots(run, sel, &rerooted, kept, &n_over, &n_late);
	start_trees(run, &mover, kept, 0, n_pinned, starts_deadline, &n_late);
	(void)ks_mover_wait(&mover);

	/* Roots that exited after their pin, before systemd took them: once
	 * more, their trees are re-rooted and started. */
	{
		const struct ks_tree **lost = calloc(n_pinned + 1, sizeof(const struct ks_tree *));
		size_t n_lost = 0, first = n_pinned;

		if (!lost) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n_pinned; i++)
			if (root_exited(run, &mover, &kept[i])) {
				lost[n_lost++] = kept[i].tree;
				kept[i].gone = true;
			}
		/* Every tree pinned so far cost a start, lost or not: max_trees
		 * bounds what PID 1 is asked for, not what it kept. */
		if (n_lost > 0 && !past(run, starts_deadline)) {
			n_pinned += reroot(run, lost, n_lost, &rerooted_again, kept + n_pinned,
					   n_pinned, &n_over);
			start_trees(run, &mover, kept, first, n_pinned, starts_deadline, &n_late);
			(void)ks_mover_wait(&mover);
		}
		free(lost);
	}

	for (size_t i = 0; i < n_pinned; i++) {
		unpin_root(&kept[i]);
		if (kept[i].gone) {
			ks_log(run->log, LOG_DEBUG, "%s (pid %d) exited before systemd took it",
			       base_name(kept[i].tree->program), (int)kept[i].tree->procs[0].pid);
			continue;
		}
		if (kept[i].job < 0)
			continue;
		if (mover.jobs[kept[i].job].state != KS_JOB_DONE) {
			tree_lost(run, kept[i].tree, job_outcome(&mover.jobs[kept[i].job]));
			continue;
		}
		kept[i].n_moved = 1;
	}

	/* The rest of the time, up to the deadline, is the attaching's. */
	mover.deadline = run->deadline;
	complete = attach_descendants(run, &mover, kept, n_pinned);
	for (size_t i = 0; i < n_pinned; i++) {
		if (kept[i].n_moved == 0)
			continue;
		log_kept(run, &kept[i], complete);
		n_kept++;
	}
	if (n_over > 0 || n_late > 0 || run->n_lost_quiet > 0)
		ks_log(run->log, LOG_WARNING,
		       "not kept for user %s from session %s: %zu tree(s) over max_trees = %u, "
		       "%zu for lack of time, %zu more that failed",
		       t->user, t->session_id, n_over, run->c->max_trees, n_late,
		       run->n_lost_quiet);
	r = n_kept;
out:
	for (size_t i = 0; i < n_pinned; i++)
		unpin_root(&kept[i]);
	free(kept);
	ks_mover_close(&mover);
	ks_selection_free(&rerooted);
	ks_selection_free(&rerooted_again);
	if (bus)
		sd_bus_close_unref(bus);
	return r;
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

int ks_keep(const struct ks_config *c, const struct ks_keep_target *t, const struct ks_keep_io *io,
	    const struct ks_log *log)
{
	struct keep_run run = { .c = c, .t = t, .io = io, .log = log };
	struct ks_selection sel = { 0 };
	const char *cgroup = io->session_cgroup;
	uint64_t logind_deadline;
	int r;

	run.start = ks_now_usec();
	run.deadline = run.start + c->timeout_usec;
	if (!cgroup || !is_session_scope(cgroup, t->session_id)) {
		ks_log(log, LOG_WARNING,
		       "not running in the scope of session %s (cgroup %s); nothing kept",
		       t->session_id, cgroup ? cgroup : "unknown");
		r = 0;
		goto done;
	}

	run.scan = (struct ks_scan){
		.proc_root = io->proc_root,
		.cgroup_root = io->cgroup_root,
		.cgroup = cgroup,
		.uid = t->uid,
		.programs = t->programs,
		.deadline = run.deadline,
	};
	run.stats.scans++;
	r = ks_select_trees(&run.scan, &sel, log);
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot list the processes of session %s: %s", t->session_id,
		       r == -ETIMEDOUT ? "no time left" : strerror(-r));
		goto out;
	}
	run.stats.selected = sel.n;
	if (sel.n == 0) {
		ks_log(log, LOG_DEBUG, "nothing to keep for %s in session %s", t->user,
		       t->session_id);
		goto out;
	}
	/* logind gets a third of the budget, counted from the start: a
	 * silent logind must leave time to keep what "keeping anyway"
	 * promises. */
	logind_deadline = run.start + c->timeout_usec / 3;
	if (c->when == KS_WHEN_KILL) {
		run.stats.calls++;
		if (!logind_kills(t, io, logind_deadline, log)) {
			ks_log(log, LOG_DEBUG,
			       "logind does not kill the processes of %s; nothing to do", t->user);
			r = 0;
			goto out;
		}
	}
	r = move_trees(&run, &sel);
out:
	ks_selection_free(&sel);
done:
	run.stats.kept = r > 0 ? (size_t)r : 0;
	run.stats.deadline = run.deadline;
	run.stats.end = ks_now_usec();
	if (io->stats)
		*io->stats = run.stats;
	return r;
}
