/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_PROCTREE_H
#define KS_PROCTREE_H

/* Which of a session's processes are kept: the process table of one
 * close, the trees of matched programs, and the stragglers after a move. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_log.h"
#include "ks_procfs.h"
#include "ks_proctable.h"
#include "ks_strlist.h"

struct ks_tree {
	char *program;            /* the matched entry of the program list */
	struct ks_proc_id *procs; /* procs[0] is the matched process, then descendants */
	size_t n;
	size_t room; /* of procs: every process the scan saw in the tree, of any uid */
};

struct ks_selection {
	struct ks_tree *trees;
	size_t n;
};

/*
 * Selects, among the processes in the session cgroup, each one of the
 * user's uid whose executable matches, with all its descendants in the
 * cgroup of that uid. A matched process below another one belongs to the
 * outer tree. A matched process whose controlling terminal is one of the
 * closing session's (an attached screen or tmux client) is a client: no
 * tree of its own, and transparent, so that the server below it is a
 * root. The session's terminals are those of the session leaders that
 * are not below a matched process. Processes that vanish mid-scan are
 * skipped silently.
 * Returns 0 (maybe with no tree), or -errno when the cgroup cannot be read.
 */
int ks_select_trees(const struct ks_scan *scan, struct ks_selection *out, const struct ks_log *log);

/* ks_select_trees() in two halves, so that the keeper can start the
 * roots' scopes before the members' status is read, while systemd moves
 * the roots. What the first half read for the second. Opaque. */
struct ks_members;

/* The trees with their roots alone (n == 1), and *members for the rest.
 * Returns 0 or -errno as ks_select_trees(), nothing kept on failure. */
int ks_select_roots(const struct ks_scan *scan, struct ks_selection *out,
		    struct ks_members **members, const struct ks_log *log);
/* Adds each tree's members of scan->uid to sel, from the scan of
 * ks_select_roots(); frees members. Returns 0, or -ETIMEDOUT past
 * scan->deadline with the members read until then. */
int ks_select_members(const struct ks_scan *scan, struct ks_members *members,
		      struct ks_selection *sel, const struct ks_log *log);
void ks_members_free(struct ks_members *members);

/*
 * After a move: the processes still in the session cgroup, of the user's
 * uid, that descend from one of kept (which have left the cgroup by now):
 * children forked while the move was under way. Returns 0 and a malloc'd
 * array (maybe empty), or -errno.
 */
int ks_select_stragglers(const struct ks_scan *scan, const struct ks_proc_id *kept, size_t n_kept,
			 struct ks_proc_id **out, size_t *n_out);

/* The same, and owners[i] the index in kept of the nearest kept process
 * above out[i] (malloc'd alongside, when owners is not NULL). */
int ks_select_stragglers_owned(const struct ks_scan *scan, const struct ks_proc_id *kept,
			       size_t n_kept, struct ks_proc_id **out, size_t **owners,
			       size_t *n_out);

void ks_selection_free(struct ks_selection *s);

#endif
