/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ks-pam-driver: a minimal PAM application, the way sshd drives the session
 * phase, for tests and benchmarks on a booted systemd host.
 *
 *   ks-pam-driver [-s SERVICE] [-t TTY] [-c COMMAND] [-w SECONDS] USER
 *
 * pam_start(SERVICE), pam_open_session, then COMMAND run as USER inside
 * the new session (with the PAM environment), then pam_close_session and
 * pam_end. Around each hook it snapshots the process state a module must
 * not change (ids, groups, umask, signal mask and dispositions, cwd, open
 * fds, environment) and prints a one-line summary per hook (see
 * summarize()). Last, the time each hook took, in microseconds:
 * "open_usec=N close_usec=N".
 *
 * Exit: 0 all fine; 1 usage or PAM failure.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#define MAX_ITEMS 1024

struct state {
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	gid_t groups[256];
	int n_groups;
	char umask_line[256];
	sigset_t mask;
	void *handlers[65];
	int handler_flags[65];
	char cwd[4096];
	char *fds[MAX_ITEMS];
	size_t n_fds;
	char *env[MAX_ITEMS];
	size_t n_env;
};

static int conversation(int n, const struct pam_message **msg, struct pam_response **resp,
			void *data)
{
	(void)n;
	(void)msg;
	(void)resp;
	(void)data;
	return PAM_CONV_ERR; /* a session module has nothing to ask */
}

static void read_umask(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];

	snprintf(buf, size, "?");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Umask:", 6) == 0) {
			snprintf(buf, size, "%s", line);
			break;
		}
	fclose(f);
}

static void read_fds(struct state *s)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && s->n_fds < MAX_ITEMS) {
		char path[300], target[4096], entry[4400];
		ssize_t len;

		if (de->d_name[0] == '.' || strtol(de->d_name, NULL, 10) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		target[len < 0 ? 0 : len] = '\0';
		snprintf(entry, sizeof(entry), "%s -> %s", de->d_name, target);
		s->fds[s->n_fds++] = strdup(entry);
	}
	closedir(d);
}

static void snapshot(struct state *s)
{
	memset(s, 0, sizeof(*s));
	getresuid(&s->ruid, &s->euid, &s->suid);
	getresgid(&s->rgid, &s->egid, &s->sgid);
	s->n_groups = getgroups(256, s->groups);
	read_umask(s->umask_line, sizeof(s->umask_line));
	sigprocmask(SIG_BLOCK, NULL, &s->mask);
	for (int sig = 1; sig < 65; sig++) {
		struct sigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) < 0)
			continue;
		s->handlers[sig] = (void *)sa.sa_handler;
		s->handler_flags[sig] = sa.sa_flags;
	}
	if (!getcwd(s->cwd, sizeof(s->cwd)))
		snprintf(s->cwd, sizeof(s->cwd), "?");
	read_fds(s);
	for (char **e = environ; e && *e && s->n_env < MAX_ITEMS; e++)
		s->env[s->n_env++] = strdup(*e);
}

static void release(struct state *s)
{
	for (size_t i = 0; i < s->n_fds; i++)
		free(s->fds[i]);
	for (size_t i = 0; i < s->n_env; i++)
		free(s->env[i]);
}

static bool same_strings(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/*
 * Prints one line that sums up what a hook changed, e.g.
 *   state pam_open_session: fds+1 ids=same groups=same umask=same ...
 * Other modules in the stack change things too (pam_systemd holds a FIFO
 * open for the session's lifetime), so a test compares this line between a
 * stack with pam_keepsession and the same stack without it: they must be
 * equal. Returns the number of fields that changed.
 */
static int summarize(const char *hook, const struct state *a, const struct state *b)
{
	bool ids = a->ruid == b->ruid && a->euid == b->euid && a->suid == b->suid &&
		   a->rgid == b->rgid && a->egid == b->egid && a->sgid == b->sgid;
	bool groups = a->n_groups == b->n_groups &&
		      (a->n_groups <= 0 ||
		       memcmp(a->groups, b->groups, (size_t)a->n_groups * sizeof(gid_t)) == 0);
	bool umask_same = strcmp(a->umask_line, b->umask_line) == 0;
	bool mask = true, handlers = true;
	bool cwd = strcmp(a->cwd, b->cwd) == 0;
	bool env = same_strings(a->env, a->n_env, b->env, b->n_env);
	long fds = (long)b->n_fds - (long)a->n_fds;

	for (int sig = 1; sig < 65; sig++) {
		if (sigismember(&a->mask, sig) != sigismember(&b->mask, sig))
			mask = false;
		if (a->handlers[sig] != b->handlers[sig] ||
		    a->handler_flags[sig] != b->handler_flags[sig])
			handlers = false;
	}
	printf("state %s: fds%+ld ids=%s groups=%s umask=%s sigmask=%s handlers=%s cwd=%s "
	       "env=%s\n",
	       hook, fds, ids ? "same" : "CHANGED", groups ? "same" : "CHANGED",
	       umask_same ? "same" : "CHANGED", mask ? "same" : "CHANGED",
	       handlers ? "same" : "CHANGED", cwd ? "same" : "CHANGED", env ? "same" : "CHANGED");
	return (fds != 0) + !ids + !groups + !umask_same + !mask + !handlers + !cwd + !env;
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

/* Runs command as the user, inside the session this process now belongs
 * to, with the PAM environment, and waits for it. */
static int run_as_user(pam_handle_t *pamh, const struct passwd *pw, const char *command)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		char **env = pam_getenvlist(pamh);

		if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0 || chdir(pw->pw_dir) < 0)
			_exit(126);
		setenv("HOME", pw->pw_dir, 1);
		setenv("USER", pw->pw_name, 1);
		setenv("LOGNAME", pw->pw_name, 1);
		setenv("SHELL", "/bin/sh", 1);
		for (char **e = env; e && *e; e++)
			putenv(*e);
		execl("/bin/sh", "sh", "-c", command, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
	const char *service = "ks-driver", *tty = "ssh", *command = NULL;
	struct pam_conv conv = { conversation, NULL };
	struct state before, after;
	uint64_t t0, open_usec, close_usec;
	struct passwd *pw;
	pam_handle_t *pamh = NULL;
	unsigned wait_seconds = 0;
	int opt, r, diffs = 0;

	while ((opt = getopt(argc, argv, "s:t:c:w:")) != -1) {
		switch (opt) {
		case 's':
			service = optarg;
			break;
		case 't':
			tty = optarg;
			break;
		case 'c':
			command = optarg;
			break;
		case 'w':
			wait_seconds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	pw = getpwnam(argv[optind]);
	if (!pw) {
		fprintf(stderr, "ks-pam-driver: no user %s\n", argv[optind]);
		return 1;
	}

	r = pam_start(service, pw->pw_name, &conv, &pamh);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "ks-pam-driver: pam_start: %s\n", pam_strerror(pamh, r));
		return 1;
	}
	/* As sshd does for a session without a pty. */
	pam_set_item(pamh, PAM_TTY, tty);
	pam_set_item(pamh, PAM_RHOST, "127.0.0.1");

	snapshot(&before);
	t0 = now_usec();
	r = pam_open_session(pamh, 0);
	open_usec = now_usec() - t0;
	snapshot(&after);
	diffs += summarize("pam_open_session", &before, &after);
	release(&before);
	release(&after);
	if (r != PAM_SUCCESS) {
		fprintf(stderr, "ks-pam-driver: pam_open_session: %s\n", pam_strerror(pamh, r));
		pam_end(pamh, r);
		return 1;
	}

	if (command && run_as_user(pamh, pw, command) != 0)
		fprintf(stderr, "ks-pam-driver: command failed\n");
	if (wait_seconds)
		sleep(wait_seconds);

	snapshot(&before);
	t0 = now_usec();
	r = pam_close_session(pamh, 0);
	close_usec = now_usec() - t0;
	snapshot(&after);
	diffs += summarize("pam_close_session", &before, &after);
	release(&before);
	release(&after);
	if (r != PAM_SUCCESS)
		fprintf(stderr, "ks-pam-driver: pam_close_session: %s\n", pam_strerror(pamh, r));
	pam_end(pamh, r);

	printf("open_usec=%llu close_usec=%llu\n", (unsigned long long)open_usec,
	       (unsigned long long)close_usec);
	(void)diffs;
	return r == PAM_SUCCESS ? 0 : 1;
usage:
	fprintf(stderr,
		"usage: ks-pam-driver [-s SERVICE] [-t TTY] [-c COMMAND] [-w SECONDS] USER\n");
	return 1;
}
