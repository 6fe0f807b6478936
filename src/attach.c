/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pinning and attaching for the keeper. Roots are pinned by pidfd before
 * their scope is asked for; a tree whose root exited first is re-rooted in
 * what it left (a re-parented SCREEN). The rest of a tree follows in
 * batches (AttachProcessesToUnit), the next pinned while PID 1 moves one;
 * a batch refused for an exited process is retried without it, halved.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_attach.h"
#include "ks_failpolicy.h"
#include "ks_procfs.h"
#include "ks_program.h"

/* Descendants asked for in one AttachProcessesToUnit: each is pinned by a
 * pidfd held during the call, so this bounds the fds open at once. */
#define ATTACH_BATCH_MAX 128
/* A tree's first batch: PID 1 starts moving after a quarter of the pins
 * (each a /proc read), and the next batch is pinned while it moves. */
#define ATTACH_FIRST_BATCH_MAX 32
/* Tries of one batch when systemd refuses it because a process exited,
 * and how many times deep it may be halved when that keeps happening. */
#define ATTACH_TRIES 3
#define ATTACH_SPLITS 4
/* Trees named one line each when they could not be kept; beyond, a count. */
#define LOST_LINES_MAX 4

/* A tree selected that is not kept: one line each for the first few,
 * then only counted, for one summary line. */
void ks_attach_tree_lost(struct keep_run *run, const struct ks_tree *tree, const char *why)
{
	if (run->n_lost_lines >= LOST_LINES_MAX) {
		run->n_lost_quiet++;
		return;
	}
	run->n_lost_lines++;
	ks_fail_log(run->log, KS_FAIL_SCOPE_FAILED,
		    "could not keep %s (pid %d) of user %s from session %s: %s",
		    ks_program_base_name(tree->program), (int)tree->procs[0].pid, run->t->user,
		    run->t->session_id, why);
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
		if (ks_proc_gone(run->procfd, &p->ids[i], p->fds[i])) {
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

/* k's first attach failure, for its kept line (the count alone without
 * memory). */
static void note_attach_error(struct kept_tree *k, const struct ks_mover *m, int r)
{
	if (r == -ESRCH || r == -EINVAL || r == -EBUSY || k->attach_why)
		return;
	k->attach_why = strdup(ks_mover_attach_error(m));
}

/* attach_pinned()'s answer when no call was made yet. */
#define NO_ANSWER 1

/*
 * AttachProcessesToUnit for p[from..from+n). systemd refuses a whole batch
 * when one of its processes exited; the exited ones are dropped and the
 * rest asked for again, at most ATTACH_TRIES times. Where processes keep
 * exiting (a pane forking short-lived children), the batch is halved,
 * oldest first, at most ATTACH_SPLITS times deep, so that the long-lived
 * ones (the panes' shells) are not given up with the short-lived ones.
 * answer is the first try's when its call was sent already (pipelined),
 * else NO_ANSWER. Returns the number attached; *missed counts those given
 * up.
 */
static size_t attach_pinned(struct keep_run *run, struct ks_mover *m, struct kept_tree *k,
			    struct pinned *p, size_t from, size_t n, unsigned depth, int answer)
{
	for (unsigned try = 0; n > 0 && try < ATTACH_TRIES; try++) {
		int r = answer;

		if (try > 0 || answer == NO_ANSWER) {
			if (ks_now_usec() >= ks_mover_deadline(m))
				break;
			run->stats.calls++;
			r = ks_mover_attach(m, k->unit, p->pids + from, n);
		}
		if (r >= 0) {
			unpin_range(p, from, n);
			return n;
		}
		if (r != -ESRCH) {
			/* Alike for every process: the kept line says it. */
			note_attach_error(k, m, r);
			unpin_range(p, from, n);
			k->n_missed += n;
			return 0;
		}
		if (drop_exited(run, p, from, &n) == 0)
			break; /* systemd says one is gone, and none is */
	}
	if (n > 1 && depth < ATTACH_SPLITS && ks_now_usec() < ks_mover_deadline(m)) {
		size_t half = n / 2;

		return attach_pinned(run, m, k, p, from, half, depth + 1, NO_ANSWER) +
		       attach_pinned(run, m, k, p, from + half, n - half, depth + 1, NO_ANSWER);
	}
	unpin_range(p, from, n);
	k->n_missed += n;
	return 0;
}

static int cmp_starttime(const void *a, const void *b)
{
	unsigned long long x = ((const struct ks_proc_id *)a)->starttime;
	unsigned long long y = ((const struct ks_proc_id *)b)->starttime;

	return (x > y) - (x < y);
}

/*
 * Pins at most ATTACH_BATCH_MAX processes of one tree into p, oldest first
 * (when a batch is halved, the long-lived processes go together). Each is
 * pinned and its identity checked right before its call, the pidfds held
 * during it, so that a reused pid can only slip in within one round trip.
 */
static void pin_batch(struct keep_run *run, struct kept_tree *k, struct ks_proc_id *ids, size_t n,
		      struct pinned *p)
{
	p->n = 0;
	qsort(ids, n, sizeof(*ids), cmp_starttime);
	for (size_t i = 0; i < n; i++) {
		int fd, r = ks_proc_hold(run->procfd, &ids[i], &fd);

		if (r == -ESRCH)
			continue; /* exited: nothing to move */
		if (r < 0) {
			k->n_missed++;
			continue;
		}
		p->ids[p->n] = ids[i];
		p->pids[p->n] = ids[i].pid;
		p->fds[p->n++] = fd;
	}
}

/*
 * One tree's batches on their way: while PID 1 moves one (its call in
 * flight), the next is pinned and sent, so at most two are pinned at once
 * (2 x ATTACH_BATCH_MAX pidfds). A refused batch is retried synchronously
 * (attach_pinned()), the other one's call still in flight.
 */
struct pipeline {
	struct pinned p[2];
	int slot[2]; /* the mover's slot of p[i]'s call, -1 when none */
	size_t next; /* the p[] the next batch goes to */
};

/* Sends p's call, unless the deadline passed: no call begins past it.
 * Returns the mover's slot, or -1 when no call went (p given up). */
static int send_batch(struct keep_run *run, struct ks_mover *m, struct kept_tree *k,
		      struct pinned *p)
{
	int slot = -1;

	if (p->n == 0)
		return -1;
	if (ks_now_usec() < ks_mover_deadline(m)) {
		run->stats.calls++;
		slot = ks_mover_attach_send(m, k->unit, p->pids, p->n);
	}
	if (slot < 0) {
		/* Late, or the kept line says why. */
		note_attach_error(k, m, slot);
		unpin_range(p, 0, p->n);
		k->n_missed += p->n;
		p->n = 0;
	}
	return slot;
}

/* Collects the answer of pl's batch i, if its call is in flight. */
static void finish_batch(struct keep_run *run, struct ks_mover *m, struct kept_tree *k,
			 struct pipeline *pl, size_t i)
{
	struct pinned *p = &pl->p[i];
	int r;

	if (pl->slot[i] < 0)
		return;
	r = ks_mover_attach_receive(m, pl->slot[i]);
	pl->slot[i] = -1;
	k->n_moved += attach_pinned(run, m, k, p, 0, p->n, 0, r);
	p->n = 0;
}

/* Pins and sends a batch, then finishes the one before it. */
static void pipeline_add(struct keep_run *run, struct ks_mover *m, struct kept_tree *k,
			 struct pipeline *pl, struct ks_proc_id *ids, size_t n)
{
	size_t i = pl->next;

	pin_batch(run, k, ids, n, &pl->p[i]);
	pl->slot[i] = send_batch(run, m, k, &pl->p[i]);
	pl->next ^= 1;
	finish_batch(run, m, k, pl, pl->next);
}

/* Attaches, in batches, the processes of found[] that belong to tree t. */
static void attach_found(struct keep_run *run, struct ks_mover *m, struct kept_tree *k, size_t t,
			 const struct ks_proc_id *found, const size_t *owner, size_t n_found,
			 unsigned round)
{
	struct ks_proc_id batch[ATTACH_BATCH_MAX];
	struct pipeline pl = { .slot = { -1, -1 } };
	size_t n_batch = 0, seen = 0, batch_max = ATTACH_BATCH_MAX, limit;

	if (run->io->attach_batch_max > 0 && run->io->attach_batch_max < ATTACH_BATCH_MAX)
		batch_max = run->io->attach_batch_max;
	limit = batch_max < ATTACH_FIRST_BATCH_MAX ? batch_max : ATTACH_FIRST_BATCH_MAX;
	for (size_t i = 0; i < n_found; i++) {
		if (owner[i] != t)
			continue;
		seen++;
		batch[n_batch++] = found[i];
		if (n_batch == limit) {
			pipeline_add(run, m, k, &pl, batch, n_batch);
			n_batch = 0;
			limit = batch_max;
		}
	}
	if (n_batch > 0)
		pipeline_add(run, m, k, &pl, batch, n_batch);
	finish_batch(run, m, k, &pl, pl.next ^ 1); /* the last one sent */
	if (seen > 0)
		ks_log(run->log, LOG_DEBUG, "round %u: %zu process(es) for %s", round, seen,
		       k->unit);
}

/*
 * Round 0: the descendants of each started tree as the selection found
 * them, without a rescan (each is pinned and its identity checked right
 * before it is attached, so one that exited or whose pid was reused since
 * is not moved). Every tree's processes are added to asked.
 */
static int attach_selected(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			   size_t n_kept, struct ks_proc_id **asked, size_t **asked_tree,
			   size_t *n_asked)
{
	for (size_t t = 0; t < n_kept; t++) {
		const struct ks_tree *tree = kept[t].tree;
		size_t *owner;
		int r;

		if (kept[t].job < 0 || ks_mover_job_state(m, (size_t)kept[t].job) != KS_JOB_DONE)
			continue;
		owner = malloc(tree->n * sizeof(*owner));
		if (!owner)
			return -ENOMEM;
		for (size_t i = 0; i < tree->n; i++)
			owner[i] = t;
		if (tree->n > 1 && ks_now_usec() < run->deadline)
			attach_found(run, m, &kept[t], t, tree->procs + 1, owner, tree->n - 1, 0);
		r = append_ids(asked, asked_tree, n_asked, tree->procs, owner, tree->n);
		free(owner);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Moves the rest of every kept tree into its scope: first the descendants
 * the selection found, then, round after round, those still in the
 * session cgroup, found by one rescan per round for all trees together,
 * so that children forked meanwhile follow and exited ones are not asked
 * for. A rescan reads /proc only for pids it has not seen (run->scan.known).
 * The rounds are bounded, and each scan and call checks the deadline: a
 * tree that forks without end, or a session of thousands, must not hold
 * the logout. Returns false when the deadline cut the rounds short.
 */
bool ks_attach_descendants(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			   size_t n_kept)
{
	struct ks_proc_id *asked = NULL;
	size_t *asked_tree = NULL, n_asked = 0;
	bool complete = true;

	if (attach_selected(run, m, kept, n_kept, &asked, &asked_tree, &n_asked) < 0)
		goto out;
	for (unsigned round = 1; n_asked > 0 && round < KS_MAX_ATTACH_ROUNDS; round++) {
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
		for (size_t t = 0; t < n_kept; t++)
			attach_found(run, m, &kept[t], t, found, owner, n_found, round);
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
size_t reroot(struct keep_run *run, const struct ks_tree *const *lost, size_t n_lost,
	      struct ks_selection *rescan, struct kept_tree *dest, size_t in_use, size_t *n_over)
{
	struct ks_scan fresh = run->scan;
	size_t added = 0;
	int r;

	if (n_lost == 0 || ks_now_usec() >= run->deadline)
		return 0;
	/* Afresh, not from the table: the lost root's children were
	 * re-parented since, and this is rare. */
	fresh.known = NULL;
	run->stats.scans++;
	r = ks_select_trees(&fresh, rescan, NULL);
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
		r = ks_proc_hold(run->procfd, &tree->procs[0], &fd);
		if (r < 0) {
			ks_attach_tree_lost(run, tree, r == -ESRCH ? "it exited" : strerror(-r));
			continue;
		}
		ks_log(run->log, LOG_DEBUG, "%s (pid %d) replaces a tree whose root exited",
		       ks_program_base_name(tree->program), (int)tree->procs[0].pid);
		dest[added++] = (struct kept_tree){ .tree = tree, .root_pidfd = fd, .job = -1 };
	}
	/* A lost tree with no matched process left below its root ended
	 * with it (a client that exited): nothing was there to keep. */
	return added;
}

/*
 * Pins the roots, at most max_trees; the trees whose root exited since
 * the scan go to lost[] (room for sel->n), for reroot() once their members
 * are read. *n_over counts those left out by max_trees, *n_late those left
 * for lack of time.
 */
size_t pin_roots(struct keep_run *run, const struct ks_selection *sel, struct kept_tree *kept,
		 const struct ks_tree **lost, size_t *n_lost, size_t *n_over, size_t *n_late)
{
	size_t n_pinned = 0;

	*n_lost = 0;
	for (size_t i = 0; i < sel->n; i++) {
		int fd, r;

		if (n_pinned >= run->c->max_trees) {
			(*n_over)++;
			continue;
		}
		if (ks_now_usec() >= run->deadline) {
			(*n_late)++;
			continue;
		}
		r = ks_proc_hold(run->procfd, &sel->trees[i].procs[0], &fd);
		if (r == -ESRCH) {
			lost[(*n_lost)++] = &sel->trees[i];
			continue;
		}
		if (r < 0) {
			char why[128];

			(void)snprintf(why, sizeof(why), "cannot pin it: %s", strerror(-r));
			ks_attach_tree_lost(run, &sel->trees[i], why);
			continue;
		}
		kept[n_pinned++] =
			(struct kept_tree){ .tree = &sel->trees[i], .root_pidfd = fd, .job = -1 };
	}
	return n_pinned;
}
