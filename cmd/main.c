/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * keepsession(1): will my tmux survive the logout, and why did it die?
 * Reads what the module reads (the configuration, ~/.keepsession, the
 * session's processes, logind's and systemd's state) and changes nothing,
 * except `release`, which stops kept scopes. This file: options, dispatch.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keepsession.h"

/* The Makefile passes the package's version. */
#ifndef KS_VERSION
#define KS_VERSION "unknown"
#endif

/* ------------------------------------------------------------------ main */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"Will a user's terminal multiplexers survive logout, and why (not)?\n"
		"\n"
		"Commands:\n"
		"  status [USER]            is USER (default: you) kept, and what would be\n"
		"  list [USER]              the kept scopes, of USER or of everyone\n"
		"  check                    PAM placement, configuration, logind, stop guard\n"
		"  release UNIT...          stop kept scopes (root only)\n"
		"  release --user USER      stop every kept scope of USER (root only)\n"
		"\n"
		"Options:\n"
		"  --json                   machine-readable output (status, list, check)\n"
		"  --pam-dir DIR            PAM configuration directory (default /etc/pam.d)\n"
		"  --conf FILE              configuration file (default %s)\n"
		"  --service NAME           status: apply the module arguments of this PAM\n"
		"                           service's line (default sshd)\n"
		"  -h, --help               this help\n"
		"  --version                the version\n",
		cmd_program_name, KS_DEFAULT_CONF);
}

/* Parses the options into o and *user. Returns -1 to go on, else the
 * exit code (after --help, --version or a usage error). */
static int parse_options(int argc, char **argv, struct opts *o, const char **user)
{
	enum { OPT_JSON = 256, OPT_PAM_DIR, OPT_CONF, OPT_USER, OPT_SERVICE, OPT_VERSION };
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pam-dir", required_argument, NULL, OPT_PAM_DIR },
		{ "conf", required_argument, NULL, OPT_CONF },
		{ "user", required_argument, NULL, OPT_USER },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
		switch (c) {
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_PAM_DIR:
			o->pam_d = optarg;
			break;
		case OPT_CONF:
			if (optarg[0] != '/')
				return cmd_error(EXIT_USAGE, "--conf: not an absolute path: %s",
						 optarg);
			o->conf = optarg;
			break;
		case OPT_USER:
			*user = optarg;
			break;
		case OPT_SERVICE:
			if (!optarg[0] || strchr(optarg, '/'))
				return cmd_error(EXIT_USAGE,
						 "--service: not a PAM service name: %s", optarg);
			o->service = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("keepsession %s\n", KS_VERSION);
			return 0;
		default:
			return cmd_error(EXIT_USAGE, "see --help");
		}
	}
	return -1;
}

/* Runs command with the arguments left (argv[0..argc)); the exit code. */
static int dispatch(const struct opts *o, const char *command, int argc, char **argv,
		    const char *user)
{
	if (user && strcmp(command, "release") != 0)
		return cmd_error(EXIT_USAGE, "--user goes with release only");
	if (strcmp(command, "status") == 0 || strcmp(command, "list") == 0) {
		if (argc > 1)
			return cmd_error(EXIT_USAGE, "%s: one user at most", command);
		return command[0] == 's' ? cmd_status(o, argc ? argv[0] : NULL) :
					   cmd_list(o, argc ? argv[0] : NULL);
	}
	if (strcmp(command, "check") == 0) {
		if (argc > 0)
			return cmd_error(EXIT_USAGE, "check takes no argument");
		return cmd_check(o);
	}
	if (strcmp(command, "release") == 0) {
		if (o->json)
			return cmd_error(EXIT_USAGE, "release has no --json");
		if (user && argc > 0)
			return cmd_error(EXIT_USAGE, "release: units or --user, not both");
		return cmd_release(argc, argv, user);
	}
	return cmd_error(EXIT_USAGE, "unknown command: %s (see --help)", command);
}

int main(int argc, char **argv)
{
	struct opts o = { .pam_d = "/etc/pam.d", .service = "sshd" };
	const char *no_color = getenv("NO_COLOR");
	const char *user = NULL;
	int r;

	r = parse_options(argc, argv, &o, &user);
	if (r >= 0)
		return r;
	if (optind >= argc)
		return cmd_error(EXIT_USAGE,
				 "no command: status, list, check or release (see --help)");
	o.color = !o.json && isatty(STDOUT_FILENO) && !(no_color && *no_color);
	return dispatch(&o, argv[optind], argc - optind - 1, argv + optind + 1, user);
}
