/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading ~/.keepsession from a root process: a child that drops to the
 * user fetches it, the parent waits on a pipe no longer than its bound. */
#ifndef KS_OPTIN_FORK_H
#define KS_OPTIN_FORK_H

#include <stdint.h>

#include "ks_eligibility.h"

/*
 * Owns reading ~/.keepsession from a root process, bounded in time: a
 * child drops every privilege to the user and fetches the file
 * (ks_optin_fetch), the parent waits on a pipe up to a deadline, never
 * changes its own ids, and judges what came back (ks_optin_judge).
 */

/* The child's work: fetch path as u and write the answer to out_fd
 * (ks_optin_child_answer). Returns the child's exit code. A seam: tests
 * pass one that hangs or lies. */
typedef int (*ks_optin_child_fn)(const struct ks_user *u, const char *path, int out_fd);

struct ks_optin_fork {
	uint64_t timeout_usec;   /* the configured timeout: the bound is a share of it */
	ks_optin_child_fn child; /* NULL: ks_optin_child() */
	/* NULL, or work for the parent while the child reads (the glue
	 * begins reaching systemd): called once the child runs, it must
	 * return by until, which leaves the read half its bound. */
	void (*meanwhile)(void *ctx, uint64_t until);
	void *meanwhile_ctx;
};

/* At most 1 s and at most a third of timeout: what the read may cost. The
 * child gets nine tenths of it to answer; the last tenth is for killing
 * and reaping it. */
uint64_t ks_optin_fork_bound_usec(uint64_t timeout_usec);

/* A ks_optin_reader_fn; ctx is a const struct ks_optin_fork *. Whatever
 * the child does (hangs on a FUSE mount, dies, lies), it returns within
 * the bound with at most one log line for the reader itself. */
enum ks_optin_status ks_optin_read_forked(void *ctx, const struct ks_user *u, const char *path,
					  struct ks_strlist *lines, const struct ks_log *log);

/* The real child: drops to u (no groups, setresgid, setresuid, and a
 * check that root cannot be regained), or stays as it is when it already
 * runs as u; then ks_optin_fetch() and the answer. */
int ks_optin_child(const struct ks_user *u, const char *path, int out_fd);

/* Writes an answer: the fetched header, then f->len bytes of buf when
 * f->check is KS_OPTIN_CHECK_OK. Returns 0 or -errno. */
int ks_optin_child_answer(int out_fd, const struct ks_optin_fetched *f, const char *buf);

#endif
