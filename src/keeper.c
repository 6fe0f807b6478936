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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ks_keeper.h"
#include "ks_mover.h"
#include "ks_policy.h"
#include "ks_proctree.h"
#include "ks_unitname.h"

/* One kept tree on its way to systemd. */
struct kept_tree {
	const struct ks_tree *tree;
	int root_pidfd; /* -1 without pidfd_open */
	int job;        /* index in the mover's jobs, or -1 */
	size_t n_moved; /* processes in the scope, as far as we know */
	char unit[KS_UNIT_NAME_MAX + 1];
};

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
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

/* Pins the multiplexer by pidfd and checks it is still the process
 * scanned. Returns 0, -ESRCH when it exited meanwhile, or -errno when it
 * cannot be checked. */
static int pin_root(const struct ks_keep_io *io, uid_t uid, struct kept_tree *k)
{
	const struct ks_proc_id *root = &k->tree->procs[0];
	unsigned long long starttime;
	uid_t owner;
	int fd, r;

	fd = ks_proc_pin(io->proc_root, root, uid);
	if (fd >= 0) {
		k->root_pidfd = fd;
		return 0;
	}
	if (fd != -ENOSYS)
		return fd;
	/* No pidfd_open (kernel < 5.3): the identity check alone, read as
	 * ks_proc_pin() reads it. */
	r = ks_proc_identity(io->proc_root, root->pid, &starttime, &owner);
	if (r == -EINVAL || (r == 0 && (starttime != root->starttime || owner != uid)))
		return -ESRCH;
	return r;
}

static void unpin_root(struct kept_tree *k)
{
	if (k->root_pidfd >= 0)
		close(k->root_pidfd);
	k->root_pidfd = -1;
}

static int start_tree(struct ks_mover *m, const struct ks_config *c, const struct ks_keep_target *t,
		      struct kept_tree *k, const struct ks_log *log)
{
	const char *program = base_name(k->tree->program);
	pid_t root = k->tree->procs[0].pid;
	char description[256];
	struct ks_scope_request req = {
		.unit = k->unit,
		.description = description,
		.slice = c->slice,
		.uid = t->uid,
		.runtime_max_usec = c->max_age_usec,
		.pids = &root,
		.pidfds = &k->root_pidfd,
		.n = 1,
	};
	int r;

	r = ks_scope_name(t->user, program, root, k->unit, sizeof(k->unit));
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot name a scope for %s (pid %d) of user %s: %s", program,
		       (int)root, t->user, strerror(-r));
		return r;
	}
	(void)snprintf(description, sizeof(description),
		       "%s of user %s kept from session %s by pam_keepsession", program, t->user,
		       t->session_id);

	r = ks_mover_start(m, &req);
	if (r < 0)
		return r; /* the mover logged why */
	k->job = r;
	return 0;
}

/* Appends ids to a growing array. */
static int append_ids(struct ks_proc_id **ids, size_t *n, const struct ks_proc_id *more,
		      size_t n_more)
{
	struct ks_proc_id *grown;

	grown = realloc(*ids, (*n + n_more) * sizeof(**ids));
	if (!grown)
		return -ENOMEM;
	memcpy(grown + *n, more, n_more * sizeof(*more));
	*ids = grown;
	*n += n_more;
	return 0;
}

/* Attaches one batch; when systemd refuses it (a process in it exited, and
 * systemd checks them all before moving any), each process on its own. */
static size_t attach_batch(struct ks_mover *m, const char *unit, const struct ks_proc_id *ids,
			   size_t n)
{
	size_t attached = 0;
	pid_t *pids;
	int r;

	pids = calloc(n, sizeof(*pids));
	if (!pids)
		return 0;
	for (size_t i = 0; i < n; i++)
		pids[i] = ids[i].pid;
	r = ks_mover_attach(m, unit, pids, n);
	if (r >= 0) {
		attached = n;
	} else if (r == -ESRCH && n > 1) {
		/* Any other failure would fail for each process alike. */
		for (size_t i = 0; i < n; i++) {
			r = ks_mover_attach(m, unit, &pids[i], 1);
			if (r >= 0)
				attached++;
			else if (r != -ESRCH)
				break;
		}
	}
	free(pids);
	return attached;
}

/* Moves the rest of the tree, the multiplexer's descendants still in the
 * session cgroup, into its scope: rescanned every round, so that children
 * forked meanwhile follow and exited ones are not asked for. The rounds
 * are bounded: a tree that forks without end must not hold the logout. */
static void attach_descendants(struct ks_mover *m, const struct ks_scan *scan, struct kept_tree *k,
			       const struct ks_log *log)
{
	struct ks_proc_id *kept = NULL;
	size_t n_kept = 0;

	if (append_ids(&kept, &n_kept, &k->tree->procs[0], 1) < 0)
		return;
	for (unsigned round = 0; round < KS_MAX_ATTACH_ROUNDS; round++) {
		struct ks_proc_id *found = NULL;
		size_t n_found = 0, attached;
		int r;

		r = ks_select_stragglers(scan, kept, n_kept, &found, &n_found);
		if (r < 0 || n_found == 0) {
			free(found);
			break;
		}
		attached = attach_batch(m, k->unit, found, n_found);
		/* What was asked for is not asked for again, attached or not:
		 * a process systemd refuses must not cost every round. */
		r = append_ids(&kept, &n_kept, found, n_found);
		free(found);
		k->n_moved += attached;
		ks_log(log, LOG_DEBUG, "attached %zu of %zu process(es) to %s", attached, n_found,
		       k->unit);
		if (r < 0)
			break;
	}
	free(kept);
}

static const char *job_outcome(const struct ks_job *job)
{
	switch (job->state) {
	case KS_JOB_TIMEOUT:
		return "no answer from systemd in time";
	case KS_JOB_FAILED:
		return job->result ? job->result : "failed";
	default:
		return "not started";
	}
}

static int move_trees(const struct ks_config *c, const struct ks_keep_target *t,
		      const struct ks_keep_io *io, const struct ks_scan *scan,
		      const struct ks_selection *sel, uint64_t deadline, const struct ks_log *log)
{
	struct ks_mover mover = { 0 };
	struct kept_tree *kept;
	sd_bus *bus = NULL;
	int r, n_kept = 0;

	kept = calloc(sel->n, sizeof(*kept));
	if (!kept)
		return -ENOMEM;
	for (size_t i = 0; i < sel->n; i++) {
		kept[i].tree = &sel->trees[i];
		kept[i].root_pidfd = -1;
		kept[i].job = -1;
	}

	r = io->open_manager(io->ctx, &bus);
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot reach the systemd manager, nothing kept for %s: %s",
		       t->user, strerror(-r));
		goto out;
	}
	r = ks_mover_open(&mover, bus, deadline, log);
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot talk to the systemd manager, nothing kept for %s: %s",
		       t->user, strerror(-r));
		goto out;
	}

	for (size_t i = 0; i < sel->n; i++) {
		r = pin_root(io, t->uid, &kept[i]);
		if (r == -ESRCH)
			continue; /* exited meanwhile: nothing to keep, nothing to say */
		if (r < 0) {
			ks_log(log, LOG_ERR,
			       "cannot pin %s (pid %d) of user %s from session %s: %s",
			       base_name(sel->trees[i].program), (int)sel->trees[i].procs[0].pid,
			       t->user, t->session_id, strerror(-r));
			continue;
		}
		(void)start_tree(&mover, c, t, &kept[i], log);
	}

	(void)ks_mover_wait(&mover);

	for (size_t i = 0; i < sel->n; i++) {
		const struct ks_job *job;

		unpin_root(&kept[i]);
		if (kept[i].job < 0)
			continue;
		job = &mover.jobs[kept[i].job];
		if (job->state != KS_JOB_DONE) {
			ks_log(log, LOG_ERR,
			       "could not keep %s (pid %d) of user %s from session %s: %s",
			       base_name(kept[i].tree->program), (int)kept[i].tree->procs[0].pid,
			       t->user, t->session_id, job_outcome(job));
			continue;
		}
		kept[i].n_moved = 1;
		attach_descendants(&mover, scan, &kept[i], log);
		ks_log(log, LOG_INFO,
		       "kept %s (pid %d, %zu process(es)) of user %s from session %s in %s",
		       base_name(kept[i].tree->program), (int)kept[i].tree->procs[0].pid,
		       kept[i].n_moved, t->user, t->session_id, kept[i].unit);
		n_kept++;
	}
	r = n_kept;
out:
	for (size_t i = 0; i < sel->n; i++)
		unpin_root(&kept[i]);
	free(kept);
	ks_mover_close(&mover);
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
	uint64_t deadline = ks_now_usec() + c->timeout_usec;
	struct ks_selection sel = { 0 };
	const char *cgroup = io->session_cgroup;
	struct ks_scan scan;
	int r;

	if (!cgroup || !is_session_scope(cgroup, t->session_id)) {
		ks_log(log, LOG_WARNING,
		       "not running in the scope of session %s (cgroup %s); nothing kept",
		       t->session_id, cgroup ? cgroup : "unknown");
		return 0;
	}

	scan = (struct ks_scan){
		.proc_root = io->proc_root,
		.cgroup_root = io->cgroup_root,
		.cgroup = cgroup,
		.uid = t->uid,
		.programs = t->programs,
	};
	r = ks_select_trees(&scan, &sel, log);
	if (r < 0) {
		ks_log(log, LOG_ERR, "cannot list the processes of session %s: %s", t->session_id,
		       strerror(-r));
		goto out;
	}
	if (sel.n == 0) {
		ks_log(log, LOG_DEBUG, "nothing to keep for %s in session %s", t->user,
		       t->session_id);
		goto out;
	}
	/* logind gets a third of the budget: a silent logind must leave
	 * time to keep what "keeping anyway" promises. */
	if (c->when == KS_WHEN_KILL &&
	    !logind_kills(t, io, ks_now_usec() + c->timeout_usec / 3, log)) {
		ks_log(log, LOG_DEBUG, "logind does not kill the processes of %s; nothing to do",
		       t->user);
		r = 0;
		goto out;
	}
	r = move_trees(c, t, io, &scan, &sel, deadline, log);
out:
	ks_selection_free(&sel);
	return r;
}
