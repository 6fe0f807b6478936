/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef KS_FILEIO_H
#define KS_FILEIO_H

/*
 * The one bounded reader of files the module does not control (/proc,
 * cgroupfs, the config, ~/.keepsession, its records), and the one check of
 * whether a file's owner and mode make it trustworthy.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Opens path below dirfd (AT_FDCWD or a directory) for reading, never
 * blocking on a FIFO or taking a terminal; extra_flags may add O_NOFOLLOW.
 * Returns the fd of a regular file, -EINVAL for anything else, or -errno. */
int ks_open_regular_at(int dirfd, const char *path, int extra_flags);

/* Reads fd to its end into buf, at most size - 1 bytes, and NUL-terminates
 * them. With must_fit, a longer file is -EFBIG; without, it is cut. Returns
 * 0 (length in *len) or -errno. */
int ks_read_bounded(int fd, char *buf, size_t size, bool must_fit, size_t *len);

/* ks_open_regular_at() and ks_read_bounded() in one. */
int ks_read_file_at(int dirfd, const char *path, int extra_flags, char *buf, size_t size,
		    bool must_fit, size_t *len);

/*
 * One open and one read(), for files that give their whole content in the
 * first read when buf is larger (procfs's seq_files: /proc/PID/stat and
 * status): no fstat, no second read to EOF. Opened O_NONBLOCK | O_NOCTTY,
 * so a FIFO or a terminal planted there answers at once; it, a directory
 * or a device that would not read is -EINVAL. A read that fills all size
 * bytes is -EFBIG with must_fit, cut to size - 1 without. Returns 0
 * (length in *len, buf NUL-terminated) or -errno (-ELOOP for a symlink
 * under O_NOFOLLOW).
 */
int ks_read_once_at(int dirfd, const char *path, int extra_flags, char *buf, size_t size,
		    bool must_fit, size_t *len);

/* Writes all len bytes, across short writes and EINTR. Returns 0 or -errno. */
int ks_write_all(int fd, const void *data, size_t len);

enum ks_file_trust {
	KS_FILE_TRUSTED,
	KS_FILE_NOT_REGULAR,
	KS_FILE_NOT_OWNED,
	KS_FILE_WRITABLE_BY_OTHERS,
	KS_FILE_TOO_LARGE,
};

/* Whether a file may be believed: regular, owned by owner, none of the mode
 * bits in forbidden_mode (S_IWGRP | S_IWOTH, or 077 for private files), at
 * most max_size bytes. */
enum ks_file_trust ks_file_trust(const struct stat *st, uid_t owner, mode_t forbidden_mode,
				 off_t max_size);
/* The reason, for one log line ("not owned by the trusted owner"...). */
const char *ks_file_trust_text(enum ks_file_trust t);

#endif
