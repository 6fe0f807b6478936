/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ks-trace.so: an LD_PRELOAD shim for ks-pam-driver that timestamps the
 * events that mark the phases of a session close, at a cost of well under
 * a microsecond each (no ptrace, no syscall of its own while recording).
 *
 *   KS_TRACE_FILE=/run/trace LD_PRELOAD=/path/ks-trace.so ks-pam-driver ...
 *
 * Recorded, between entry and return of pam_close_session() (CLOCK_MONOTONIC,
 * usec): connect() with its socket path, sendmsg() with the D-Bus member or
 * auth line it carries, recvmsg() of a D-Bus message header with its type
 * (2 method return, 3 error, 4 signal) and of a JobRemoved body, openat()
 * and open() of the cgroup tree and of /proc, fork() and waitpid() (pam_exec),
 * ppoll() with the time it blocked (sd-bus waits in it, for an answer of
 * dbus-daemon, logind or PID 1; the opt-in reader waits in poll(), not
 * counted), and pam_syslog() with the start of its message (the module's "kept" line
 * ends its work; pam_unix's "session closed" line follows), each after a
 * "cpu" event: the CPU time used since the close began, by the process
 * and by its reaped children (the opt-in reader).
 * At the return of pam_close_session() the events go to KS_TRACE_FILE, one
 * "USEC EVENT [DETAIL]" line each; bench/phases.awk turns them into phases.
 *
 * Not part of the module: a benchmark tool, built in the container.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 8192
#define DETAIL_MAX 48

struct event {
	uint64_t usec;
	const char *what;
	char detail[DETAIL_MAX];
};

static struct event events[MAX_EVENTS];
static size_t n_events;
static bool recording;
static char trace_file[256];

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

static void record(const char *what, const char *detail, size_t len)
{
	struct event *e;

	if (!recording || n_events >= MAX_EVENTS)
		return;
	e = &events[n_events++];
	e->usec = now_usec();
	e->what = what;
	if (len >= DETAIL_MAX)
		len = DETAIL_MAX - 1;
	for (size_t i = 0; i < len; i++)
		e->detail[i] = (char)(detail[i] > ' ' && detail[i] < 0x7f ? detail[i] : '_');
	e->detail[len] = '\0';
}

/* CPU time since the close began, this process and its reaped children
 * (the opt-in reader), usec: a "cpu" event before each log line, so that
 * the module's own work can be read at its "kept" line. Two syscalls,
 * only at log lines. */
static uint64_t cpu_usec(void)
{
	struct timespec ts;
	struct rusage ru;
	uint64_t usec = 0;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0)
		usec = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
	if (getrusage(RUSAGE_CHILDREN, &ru) == 0)
		usec += (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
			(uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return usec;
}

static uint64_t cpu_begin;

static void record_cpu(void)
{
	int saved = errno; /* for a "%m" in the line that follows */
	char detail[24];
	int len = snprintf(detail, sizeof(detail), "%llu",
			   (unsigned long long)(cpu_usec() - cpu_begin));

	record("cpu", detail, (size_t)len);
	errno = saved;
}

static void *next(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

__attribute__((constructor)) static void init(void)
{
	const char *f = getenv("KS_TRACE_FILE");

	snprintf(trace_file, sizeof(trace_file), "%s", f ? f : "/run/ks-trace");
	/* Not for what the driver runs as the user, nor pam_exec's script. */
	unsetenv("LD_PRELOAD");
	unsetenv("KS_TRACE_FILE");
}

/* One write() per event batch: the dump runs inside the timed close. */
static void dump(void)
{
	int (*real_open)(const char *, int, ...) = next("open");
	static char buf[MAX_EVENTS * 80];
	size_t len = 0;
	int fd;

	for (size_t i = 0; i < n_events; i++) {
		int n = snprintf(buf + len, sizeof(buf) - len, "%llu %s%s%s\n",
				 (unsigned long long)events[i].usec, events[i].what,
				 events[i].detail[0] ? " " : "", events[i].detail);

		if (n < 0 || (size_t)n >= sizeof(buf) - len)
			break;
		len += (size_t)n;
	}
	fd = real_open(trace_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, len) < 0)
		(void)0; /* a lost trace shows as a missing file */
	close(fd);
}

int pam_close_session(pam_handle_t *pamh, int flags)
{
	int (*real)(pam_handle_t *, int) = next("pam_close_session");
	int r;

	n_events = 0;
	recording = true;
	cpu_begin = cpu_usec();
	record("begin", "", 0);
	r = real(pamh, flags);
	record("end", "", 0);
	recording = false;
	dump();
	return r;
}

static bool interesting_path(const char *path)
{
	return strncmp(path, "/sys/fs/cgroup", 14) == 0 || strcmp(path, "/proc") == 0 ||
	       strstr(path, "cgroup.procs") != NULL;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	static int (*real)(int, const char *, int, ...);
	mode_t mode = 0;

	if (!real)
		real = next("openat");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (recording && interesting_path(path))
		record("open", path, strlen(path));
	return real(dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	mode_t mode = 0;

	if (!real)
		real = next("open");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (recording && interesting_path(path))
		record("open", path, strlen(path));
	return real(path, flags, mode);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);

	if (!real)
		real = next("connect");
	if (recording && addr && addr->sa_family == AF_UNIX) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)addr;

		record("connect", un->sun_path, strnlen(un->sun_path, sizeof(un->sun_path)));
	}
	return real(fd, addr, len);
}

/* The D-Bus names worth telling apart, in the order they are looked for. */
static const char *const members[] = {
	"StartTransientUnit",
	"AttachProcessesToUnit",
	"ReleaseSession",
	"KillUserProcesses",
	"KillOnlyUsers",
	"KillExcludeUsers",
	"Version",
	"Subscribe",
	"ListJobs",
	"AddMatch",
	"Hello",
	"AUTH",
};

static void classify_send(const struct msghdr *msg)
{
	for (size_t i = 0; i < msg->msg_iovlen; i++) {
		const struct iovec *v = &msg->msg_iov[i];

		for (size_t m = 0; m < sizeof(members) / sizeof(members[0]); m++)
			if (memmem(v->iov_base, v->iov_len, members[m], strlen(members[m]))) {
				record("send", members[m], strlen(members[m]));
				return;
			}
	}
	record("send", "other", 5);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);

	if (!real)
		real = next("sendmsg");
	if (recording && msg)
		classify_send(msg);
	return real(fd, msg, flags);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, struct msghdr *, int);
	ssize_t r;

	if (!real)
		real = next("recvmsg");
	r = real(fd, msg, flags);
	if (recording && r > 0 && msg->msg_iovlen > 0) {
		const unsigned char *p = msg->msg_iov[0].iov_base;
		size_t len =
			(size_t)r < msg->msg_iov[0].iov_len ? (size_t)r : msg->msg_iov[0].iov_len;

		if (len >= 16 && (p[0] == 'l' || p[0] == 'B') && p[1] >= 1 && p[1] <= 4) {
			char type[8];

			snprintf(type, sizeof(type), "type=%d", p[1]);
			record("recv", type, strlen(type));
		}
		if (memmem(p, len, "JobRemoved", 10))
			record("recv", "JobRemoved", 10);
	}
	return r;
}

int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *mask)
{
	static int (*real)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
	uint64_t start = now_usec();
	char detail[24];
	int r, len, saved;

	if (!real)
		real = next("ppoll");
	r = real(fds, nfds, timeout, mask);
	/* sd-bus reads errno after a failed ppoll() (EINTR): kept as it was. */
	saved = errno;
	len = snprintf(detail, sizeof(detail), "%llu", (unsigned long long)(now_usec() - start));
	record("blocked", detail, (size_t)len);
	errno = saved;
	return r;
}

pid_t fork(void)
{
	static pid_t (*real)(void);

	if (!real)
		real = next("fork");
	record("fork", "", 0);
	return real();
}

pid_t waitpid(pid_t pid, int *status, int options)
{
	static pid_t (*real)(pid_t, int *, int);
	pid_t r;

	if (!real)
		real = next("waitpid");
	r = real(pid, status, options);
	record("waited", "", 0);
	return r;
}

void pam_syslog(const pam_handle_t *pamh, int priority, const char *fmt, ...)
{
	static void (*real)(const pam_handle_t *, int, const char *, va_list);
	va_list ap;

	if (!real)
		real = next("pam_vsyslog");
	va_start(ap, fmt);
	if (recording) {
		char text[DETAIL_MAX];
		va_list aq;

		va_copy(aq, ap);
		vsnprintf(text, sizeof(text), fmt, aq);
		va_end(aq);
		record_cpu();
		record("log", text, strlen(text));
	}
	real(pamh, priority, fmt, ap);
	va_end(ap);
}
