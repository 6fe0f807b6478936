/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_fileio.h"

int ks_open_regular_at(int dirfd, const char *path, int extra_flags)
{
	_cleanup_(closep) int fd = -1;
	struct stat st;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | extra_flags);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	/* A FIFO or device planted where a file is expected must not block
	 * or feed the caller. */
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	return TAKE_FD(fd);
}

/* One more byte tells a file that is longer than the buffer. */
static int has_more(int fd)
{
	char extra;
	ssize_t k;

	do
		k = read(fd, &extra, 1);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		return -errno;
	return k > 0 ? -EFBIG : 0;
}

int ks_read_bounded(int fd, char *buf, size_t size, bool must_fit, size_t *len)
{
	size_t have = 0;

	if (size == 0)
		return -EINVAL;
	while (have < size - 1) {
		ssize_t k = read(fd, buf + have, size - 1 - have);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		have += (size_t)k;
	}
	if (must_fit && have == size - 1) {
		int r = has_more(fd);

		if (r < 0)
			return r;
	}
	buf[have] = '\0';
	*len = have;
	return 0;
}

int ks_read_file_at(int dirfd, const char *path, int extra_flags, char *buf, size_t size,
		    bool must_fit, size_t *len)
{
	_cleanup_(closep) int fd = ks_open_regular_at(dirfd, path, extra_flags);

	if (fd < 0)
		return fd;
	return ks_read_bounded(fd, buf, size, must_fit, len);
}

int ks_read_once_at(int dirfd, const char *path, int extra_flags, char *buf, size_t size,
		    bool must_fit, size_t *len)
{
	_cleanup_(closep) int fd = -1;
	ssize_t k;

	if (size == 0)
		return -EINVAL;
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | extra_flags);
	if (fd < 0)
		return -errno;
	/* The whole buffer: a file that fills it is longer than size - 1. */
	do
		k = read(fd, buf, size);
	while (k < 0 && errno == EINTR);
	if (k < 0)
		/* A directory, or a FIFO or terminal with nothing to say. */
		return errno == EISDIR || errno == EAGAIN || errno == EINVAL ? -EINVAL : -errno;
	if ((size_t)k == size) {
		if (must_fit)
			return -EFBIG;
		k--;
	}
	buf[k] = '\0';
	*len = (size_t)k;
	return 0;
}

int ks_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

enum ks_file_trust ks_file_trust(const struct stat *st, uid_t owner, mode_t forbidden_mode,
				 off_t max_size)
{
	if (!S_ISREG(st->st_mode))
		return KS_FILE_NOT_REGULAR;
	if (st->st_uid != owner)
		return KS_FILE_NOT_OWNED;
	if (st->st_mode & forbidden_mode)
		return KS_FILE_WRITABLE_BY_OTHERS;
	if (st->st_size > max_size)
		return KS_FILE_TOO_LARGE;
	return KS_FILE_TRUSTED;
}

const char *ks_file_trust_text(enum ks_file_trust t)
{
	switch (t) {
	case KS_FILE_TRUSTED:
		return "trusted";
	case KS_FILE_NOT_REGULAR:
		return "not a regular file";
	case KS_FILE_NOT_OWNED:
		return "not owned by the trusted owner";
	case KS_FILE_WRITABLE_BY_OTHERS:
		return "writable by group or others";
	case KS_FILE_TOO_LARGE:
		return "larger than the size limit";
	}
	return "unknown";
}
