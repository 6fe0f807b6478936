/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The keeper's pinning and attaching: the roots to start (re-rooting lost
 * trees), and the rest of each kept tree into its scope (rounds, batches). */
#ifndef KS_ATTACH_H
#define KS_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ks_clock.h"
#include "ks_config.h"
#include "ks_keeper.h"
#include "ks_log.h"
#include "ks_mover.h"
#include "ks_proctree.h"
#include "ks_unitname.h"

/* One tree on its way to systemd. */
struct kept_tree {
	const struct ks_tree *tree;
	int root_pidfd;   /* -1 without pidfd_open */
	int job;          /* index in the mover's jobs, or -1 */
	size_t n_moved;   /* processes in the scope, as far as we know */
	size_t n_missed;  /* descendants seen but not attached */
	bool gone;        /* the root exited before systemd took it: re-rooted */
	bool said;        /* not kept, and said so already: not re-rooted */
	char *attach_why; /* the first attach failure, for the kept line */
	char unit[KS_UNIT_NAME_MAX + 1];
};

/* One close_session: what every step needs, and what it counts. */
struct keep_run {
	const struct ks_config *c;
	const struct ks_keep_target *t;
	const struct ks_keep_io *io;
	const struct ks_log *log;
	struct ks_scan scan;
	int procfd; /* io->proc_root, open for every pin; or its open's -errno */
	uint64_t start, deadline;
	struct ks_keep_stats stats;
	size_t n_lost_lines; /* "could not keep" lines logged */
	size_t n_lost_quiet; /* trees not kept beyond LOST_LINES_MAX */
};

/* A tree selected that is not kept: one line each for the first few,
 * then only counted in run->n_lost_quiet, for one summary line. */
void ks_attach_tree_lost(struct keep_run *run, const struct ks_tree *tree, const char *why);

/* Pins the roots of sel, at most max_trees; the trees whose root exited
 * since the scan go to lost[] (room for sel->n), *n_lost of them, for
 * reroot(). Returns the number pinned into kept[]; *n_over counts those
 * left out by max_trees, *n_late those left for lack of time. */
size_t pin_roots(struct keep_run *run, const struct ks_selection *sel, struct kept_tree *kept,
		 const struct ks_tree **lost, size_t *n_lost, size_t *n_over, size_t *n_late);

/* Re-roots the lost trees (their root exited before systemd took it) from
 * one rescan into rescan: the trees rooted in their members are pinned
 * into dest[], within max_trees counting in_use. Returns the number
 * added. */
size_t reroot(struct keep_run *run, const struct ks_tree *const *lost, size_t n_lost,
	      struct ks_selection *rescan, struct kept_tree *dest, size_t in_use, size_t *n_over);

/* Moves the descendants of every started tree of kept[] into its scope,
 * the selected ones first, then in bounded rounds of one rescan each. Returns false when the
 * deadline cut the rounds short. */
bool ks_attach_descendants(struct keep_run *run, struct ks_mover *m, struct kept_tree *kept,
			   size_t n_kept);

#endif
