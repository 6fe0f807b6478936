/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The session record (see ks_record.h): written by open_session inside
 * sshd, read by the stop guard run by PID 1. Both run as root over a
 * directory under /run, so every check is made on an open descriptor
 * (O_NOFOLLOW, fstat), never on a path that could change underneath.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ks_cleanup.h"
#include "ks_fileio.h"
#include "ks_number.h"
#include "ks_proctree.h"
#include "ks_record.h"

#define RECORD_HEADER "pam_keepsession-record 1"
#define TEMP_PREFIX ".tmp-"
/* A temporary older than this is a writer's leftover, not a write in
 * progress. */
#define TEMP_MAX_AGE_SEC 60

void ks_record_free(struct ks_record *r)
{
	ks_strlist_clear(&r->args);
}

static bool arg_valid(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

int ks_record_format(const struct ks_record *r, char *buf, size_t size)
{
	size_t len;
	int n;

	if (r->leader <= 0 || r->args.n > KS_RECORD_MAX_ARGS || r->kept > KS_RECORD_MAX_KEPT)
		return -EINVAL;
	n = snprintf(buf, size, RECORD_HEADER "\nleader %d\nstarttime %llu\ncreated %llu\nuid %u\n",
		     (int)r->leader, r->starttime, (unsigned long long)r->created_usec,
		     (unsigned)r->uid);
	if (n < 0 || (size_t)n >= size)
		return -E2BIG;
	len = (size_t)n;
	if (r->kept > 0) {
		n = snprintf(buf + len, size - len, "kept %u\n", r->kept);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	for (size_t i = 0; i < r->args.n; i++) {
		if (!arg_valid(r->args.v[i]))
			return -EINVAL;
		n = snprintf(buf + len, size - len, "arg %s\n", r->args.v[i]);
		if (n < 0 || (size_t)n >= size - len)
			return -E2BIG;
		len += (size_t)n;
	}
	if (len > KS_RECORD_MAX_SIZE)
		return -E2BIG;
	return (int)len;
}

static bool key_is(const char *line, size_t len, const char *key, const char **value, size_t *vlen)
{
	size_t klen = strlen(key);

	if (len <= klen || memcmp(line, key, klen) != 0 || line[klen] != ' ')
		return false;
	*value = line + klen + 1;
	*vlen = len - klen - 1;
	return true;
}

/* One "key value" line into r; seen tracks the keys already set. */
static int parse_line(const char *line, size_t len, struct ks_record *r, unsigned *seen)
{
	static const char *const keys[] = { "leader", "starttime", "created", "uid", "kept" };
	const char *value;
	size_t vlen;

	if (key_is(line, len, "arg", &value, &vlen)) {
		if (r->args.n >= KS_RECORD_MAX_ARGS || vlen == 0)
			return -EBADMSG;
		return ks_strlist_add(&r->args, value, vlen);
	}
	for (unsigned k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		unsigned long long v;

		if (!key_is(line, len, keys[k], &value, &vlen))
			continue;
		if (*seen & (1U << k))
			return -EBADMSG;
		*seen |= 1U << k;
		switch (k) {
		case 0:
			if (ks_parse_decimal(value, vlen, INT_MAX, &v) < 0 || v == 0)
				return -EBADMSG;
			r->leader = (pid_t)v;
			return 0;
		case 1:
			if (ks_parse_decimal(value, vlen, ULLONG_MAX, &v) < 0)
				return -EBADMSG;
			r->starttime = v;
			return 0;
		case 2:
			if (ks_parse_decimal(value, vlen, UINT64_MAX, &v) < 0)
				return -EBADMSG;
			r->created_usec = v;
			return 0;
		case 3:
			/* (uid_t)-1 is no user. */
			if (ks_parse_decimal(value, vlen, UINT32_MAX - 1, &v) < 0)
				return -EBADMSG;
			r->uid = (uid_t)v;
			return 0;
		default:
			/* Optional (records written before close_session have
			 * none: 0). A sign, garbage or a count past any
			 * max_trees refuses the whole record like any other
			 * malformed line, rather than reading it as a number:
			 * the guard then keeps nothing of the session, which
			 * never exceeds the cap, and removes the record. */
			if (ks_parse_decimal(value, vlen, KS_RECORD_MAX_KEPT, &v) < 0)
				return -EBADMSG;
			r->kept = (unsigned)v;
			return 0;
		}
	}
	return -EBADMSG;
}

int ks_record_parse(const char *text, size_t len, struct ks_record *r)
{
	const size_t hlen = strlen(RECORD_HEADER);
	unsigned seen = 0;
	int ret;

	*r = (struct ks_record){ 0 };
	if (len > KS_RECORD_MAX_SIZE || memchr(text, '\0', len))
		return -EBADMSG;
	if (len <= hlen || memcmp(text, RECORD_HEADER "\n", hlen + 1) != 0)
		return -EBADMSG;
	text += hlen + 1;
	len -= hlen + 1;
	while (len > 0) {
		const char *nl = memchr(text, '\n', len);
		size_t n;

		if (!nl) {
			ret = -EBADMSG; /* a last line without its newline: cut short */
			goto fail;
		}
		n = (size_t)(nl - text);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)text[i] < ' ' || (unsigned char)text[i] == 0x7f) {
				ret = -EBADMSG;
				goto fail;
			}
		ret = parse_line(text, n, r, &seen);
		if (ret < 0)
			goto fail;
		text += n + 1;
		len -= n + 1;
	}
	/* Every key but the optional "kept" (bit 4). */
	if ((seen & 0xf) != 0xf) {
		ret = -EBADMSG;
		goto fail;
	}
	return 0;
fail:
	ks_record_free(r);
	return ret;
}

/* Opens dir, which must be a real directory owned by owner and closed to
 * group and others. Returns the descriptor or -errno (-EPERM: not ours). */
static int open_dir(const char *dir, uid_t owner)
{
	struct stat st;
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ELOOP || errno == ENOTDIR ? -EPERM : -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	if (st.st_uid != owner || (st.st_mode & 077) != 0) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

static void name_of(pid_t leader, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%d", (int)leader);
}

int ks_record_write(const char *dir, const struct ks_record *r, uid_t owner)
{
	char text[KS_RECORD_MAX_SIZE + 1], name[32], temp[48];
	int dfd, fd, len, ret;

	len = ks_record_format(r, text, sizeof(text));
	if (len < 0)
		return len;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	dfd = open_dir(dir, owner);
	if (dfd < 0)
		return dfd;
	name_of(r->leader, name, sizeof(name));
	(void)snprintf(temp, sizeof(temp), TEMP_PREFIX "%s", name);
	/* A leftover of a writer with the same pid long ago. */
	(void)unlinkat(dfd, temp, 0);
	fd = openat(dfd, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	ret = ks_write_all(fd, text, (size_t)len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && renameat(dfd, temp, dfd, name) < 0)
		ret = -errno;
	if (ret < 0)
		(void)unlinkat(dfd, temp, 0);
out:
	close(dfd);
	return ret;
}

/* Reads the record named name in dfd, checking the file as hostile:
 * -EPERM for a link, a non-file or one not root's alone, -EFBIG for one
 * too large (or grown since fstat). */
static int read_at(int dfd, const char *name, uid_t owner, struct ks_record *r)
{
	_cleanup_(closep) int fd = ks_open_regular_at(dfd, name, O_NOFOLLOW);
	char text[KS_RECORD_MAX_SIZE + 1];
	struct stat st;
	size_t len = 0;
	int ret;

	if (fd == -ELOOP || fd == -EINVAL)
		return -EPERM;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return -errno;
	switch (ks_file_trust(&st, owner, 077, KS_RECORD_MAX_SIZE)) {
	case KS_FILE_TRUSTED:
		break;
	case KS_FILE_TOO_LARGE:
		return -EFBIG;
	default:
		return -EPERM;
	}
	ret = ks_read_bounded(fd, text, sizeof(text), true, &len);
	return ret < 0 ? ret : ks_record_parse(text, len, r);
}

int ks_record_read(const char *dir, pid_t leader, uid_t owner, struct ks_record *r)
{
	char name[32];
	int dfd, ret;

	*r = (struct ks_record){ 0 };
	if (leader <= 0)
		return -ENOENT;
	dfd = open_dir(dir, owner);
	if (dfd < 0)
		return dfd;
	name_of(leader, name, sizeof(name));
	ret = read_at(dfd, name, owner, r);
	close(dfd);
	if (ret == 0 && r->leader != leader) {
		ks_record_free(r);
		ret = -EBADMSG; /* a record under another leader's name */
	}
	return ret;
}

int ks_record_set_kept(const char *dir, pid_t leader, uid_t owner, unsigned kept)
{
	struct ks_record rec;
	int r;

	if (kept > KS_RECORD_MAX_KEPT)
		return -EINVAL;
	r = ks_record_read(dir, leader, owner, &rec);
	if (r < 0)
		return r;
	rec.kept = kept;
	r = ks_record_write(dir, &rec, owner);
	ks_record_free(&rec);
	return r;
}

int ks_record_remove(const char *dir, pid_t leader)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/%d", dir, (int)leader) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

bool ks_record_any(const char *dir, uid_t owner)
{
	struct dirent *de;
	bool any = false;
	DIR *d;
	int dfd;

	dfd = open_dir(dir, owner);
	if (dfd < 0)
		return false;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return false;
	}
	while (!any && (de = readdir(d)))
		any = de->d_name[0] != '.';
	closedir(d);
	return any;
}

bool ks_record_matches(const struct ks_record *rec, pid_t leader, uid_t uid, uint64_t session_usec,
		       const char *proc_root)
{
	unsigned long long starttime;
	uid_t owner;
	int r;

	if (rec->leader != leader || rec->uid != uid)
		return false;
	/* A live leader must be the record's writer: a failed login's record
	 * cannot pass to a later session whose leader reused the pid. */
	r = ks_proc_identity(proc_root, leader, &starttime, &owner);
	if (r != -ESRCH && (r < 0 || starttime != rec->starttime))
		return false;
	/* The record is written before logind creates the session, shortly. */
	return rec->created_usec <= session_usec &&
	       session_usec - rec->created_usec <= KS_RECORD_MAX_LAG_USEC;
}

static bool is_record_name(const char *s)
{
	unsigned long long v;

	return s[0] != '0' && ks_parse_decimal(s, strlen(s), INT_MAX, &v) == 0;
}

/* A temporary no writer is still filling. */
static bool temp_left_over(int dfd, const char *name)
{
	struct timespec now;
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return false;
	return !S_ISREG(st.st_mode) || now.tv_sec - st.st_mtime > TEMP_MAX_AGE_SEC ||
	       now.tv_sec < st.st_mtime;
}

int ks_record_sweep(const char *dir, uid_t owner, ks_record_stale_fn stale, void *ctx)
{
	struct dirent *de;
	unsigned seen = 0;
	int dfd, removed = 0;
	DIR *d;

	dfd = open_dir(dir, owner);
	if (dfd < 0)
		return dfd;
	d = fdopendir(dfd);
	if (!d) {
		int r = -errno;

		close(dfd);
		return r;
	}
	while (seen < KS_RECORD_SWEEP_MAX && (de = readdir(d))) {
		struct ks_record rec;
		bool drop;
		int r;

		seen++;
		if (strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0) {
			drop = temp_left_over(dirfd(d), de->d_name);
		} else if (is_record_name(de->d_name)) {
			int verdict = 0;

			r = read_at(dirfd(d), de->d_name, owner, &rec);
			if (r == -ENOENT)
				continue; /* removed meanwhile */
			if (r == 0) {
				verdict = stale(ctx, &rec);
				ks_record_free(&rec);
				if (verdict < 0)
					break;
			}
			drop = r == -EPERM || r == -EFBIG || r == -EBADMSG || verdict > 0;
		} else {
			continue; /* not ours to judge */
		}
		if (drop && unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}
