/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The session record under /run that open_session leaves for the stop
 * guard: its format, and writing, reading and sweeping it safely as root. */
#ifndef KS_RECORD_H
#define KS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ks_strlist.h"

/*
 * The session record: open_session leaves one small root-only file per
 * session whose PAM stack ran the module, so that the stop guard, run by
 * systemd with nothing but the session id, acts only where the module is
 * enabled and with the module's own arguments. It is keyed by the pid of
 * the process that opened the session (logind's leader): the file is named
 * after it, and holds the leader's start time, the uid, and a
 * CLOCK_MONOTONIC stamp taken before logind created the session, so the
 * guard can tell its session from a later one with a reused pid even when
 * the leader is dead. close_session adds how many trees the module kept
 * at the logout, so that the guard keeps only what is left of max_trees:
 * the cap is per session, not per hook.
 *
 * Every file is read as hostile: the directory and the file must be owned
 * by the trusted owner and closed to group and others, the file regular
 * (never followed through a symlink) and at most KS_RECORD_MAX_SIZE bytes.
 */

#define KS_RECORD_DIR "/run/pam_keepsession"
#define KS_RECORD_MAX_SIZE 8192
#define KS_RECORD_MAX_ARGS 64
/* The most trees one session's record may say were kept: max_trees'
 * own bound (KS_MAX_MAX_TREES). */
#define KS_RECORD_MAX_KEPT 4096
/* Directory entries looked at by one sweep, however many there are. */
#define KS_RECORD_SWEEP_MAX 1024
/* logind creates the session right after our open_session (pam_systemd is
 * the next lines of the stack); a record stamped longer before the
 * session was created is not that session's. */
#define KS_RECORD_MAX_LAG_USEC (300 * 1000000ULL)

struct ks_record {
	pid_t leader;
	unsigned long long starttime; /* the leader's, from /proc/PID/stat */
	uint64_t created_usec;        /* CLOCK_MONOTONIC when written */
	uid_t uid;
	unsigned kept;          /* trees close_session kept; 0 before it ran */
	struct ks_strlist args; /* the module's arguments, in order */
};

void ks_record_free(struct ks_record *r);

/* The file's text. Refuses (-EINVAL) an argument with a control character
 * or more than KS_RECORD_MAX_ARGS of them, or kept past KS_RECORD_MAX_KEPT,
 * -E2BIG past KS_RECORD_MAX_SIZE. The "kept" line is left out while kept
 * is 0: open_session's record reads as it always did.
 * Returns the length written into buf (NUL-terminated). */
int ks_record_format(const struct ks_record *r, char *buf, size_t size);

/* Parses a record's text (not NUL-terminated). Returns 0, -EBADMSG for
 * anything but a well-formed record, or -ENOMEM. */
int ks_record_parse(const char *text, size_t len, struct ks_record *r);

/* Writes the record for r->leader atomically (a temporary file renamed
 * over), creating dir (0700) when missing. An existing dir must be a real
 * directory owned by owner and closed to others. Returns 0 or -errno. */
int ks_record_write(const char *dir, const struct ks_record *r, uid_t owner);

/* Rewrites the record of leader (read with ks_record_read()'s checks,
 * written as ks_record_write() does) with kept. Returns 0, -ENOENT when
 * there is none, -EINVAL for kept past KS_RECORD_MAX_KEPT, or
 * ks_record_read()'s and ks_record_write()'s errors. */
int ks_record_set_kept(const char *dir, pid_t leader, uid_t owner, unsigned kept);

/* Reads the record of leader. Returns 0, -ENOENT when there is none,
 * -EPERM for a directory or file failing the ownership, mode or type
 * checks, -EFBIG when oversized, -EBADMSG when malformed, or -errno. */
int ks_record_read(const char *dir, pid_t leader, uid_t owner, struct ks_record *r);

/* Removes the record of leader. Returns 0 (also when there was none) or
 * -errno. */
int ks_record_remove(const char *dir, pid_t leader);

/* Is there any record at all? false also when dir is missing or not ours:
 * the guard's fast path for a session of a service without the module. */
bool ks_record_any(const char *dir, uid_t owner);

/* Is rec the record of the session of uid created at session_usec
 * (logind's TimestampMonotonic) and led by leader? The stamp decides: the
 * record is written shortly before logind creates the session. While the
 * leader runs (read below proc_root), its start time must be the record's
 * too, so that the record of a failed login cannot pass to a later
 * session whose leader reused the pid; an unreadable leader matches
 * nothing. A dead leader's pid may run another process by now: the stamp
 * alone decides then, and a record rewritten by a later leader with the
 * same pid is stamped after this session was created. */
bool ks_record_matches(const struct ks_record *rec, pid_t leader, uid_t uid, uint64_t session_usec,
		       const char *proc_root);

/* Decides whether the record of a leader is stale (1) or not (0); ctx is
 * the caller's. Negative: stop the sweep here (out of time). */
typedef int (*ks_record_stale_fn)(void *ctx, const struct ks_record *rec);

/* Looks at up to KS_RECORD_SWEEP_MAX entries of dir and removes the
 * records stale() says are, what bears a record's name without being one
 * (symlink, wrong owner or mode, oversized, malformed) and temporaries
 * left by a writer that died, until stale() says stop. Other names are
 * left alone. Returns the
 * number removed, or -errno when dir cannot be used. */
int ks_record_sweep(const char *dir, uid_t owner, ks_record_stale_fn stale, void *ctx);

#endif
