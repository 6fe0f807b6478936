#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# keep-with-pam-exec.sh: the job of pam_keepsession done the way an admin
# would script it, as the benchmark's case (f). In /etc/pam.d/SERVICE,
# before the line that brings in pam_systemd:
#
#   session optional pam_exec.so quiet /usr/local/sbin/keep-with-pam-exec.sh
#
# At close_session, for a user with ~/.keepsession, it finds the user's tmux
# and screen servers in the closing session's cgroup, collects each one's
# descendants, and asks systemd (busctl, over the system bus) to start a
# transient scope in user-UID.slice holding them all. It does not wait for
# the job: busctl returns once systemd queued it.
#
# Written to be reasonably fast (one getent, one pgrep per tree level, one
# busctl per server; no loop forking per process), not to be robust: a
# descendant that exits between the listing and the call fails the whole
# scope, and user names are not escaped for unit names.
[ "$PAM_TYPE" = close_session ] || exit 0
user=$PAM_USER

IFS=: read -r _ _ uid _ _ home _ <<EOF
$(getent passwd "$user")
EOF
[ -n "$uid" ] && [ -e "$home/.keepsession" ] || exit 0

# This script runs in the closing session's cgroup: its own.
cg=
while IFS= read -r line; do
	case $line in
	0::*) cg=${line#0::} ;;
	esac
done </proc/self/cgroup
case $cg in
*/session-*.scope) ;;
*) exit 0 ;;
esac

for server in $(pgrep -u "$uid" --cgroup "$cg" -x 'tmux: server|screen'); do
	pids=$server
	level=$server
	while level=$(pgrep -d, -P "$level"); do
		pids=$pids,$level
	done
	IFS=,
	# shellcheck disable=SC2086 # split on the commas
	set -- $pids
	unset IFS
	read -r comm <"/proc/$server/comm" || continue
	case $comm in
	tmux*) program=tmux ;;
	*) program=screen ;;
	esac
	busctl call --quiet org.freedesktop.systemd1 /org/freedesktop/systemd1 \
		org.freedesktop.systemd1.Manager StartTransientUnit 'ssa(sv)a(sa(sv))' \
		"keepsession-$user-$program-$server.scope" fail 3 \
		Description s "$program of $user kept by keep-with-pam-exec.sh" \
		Slice s "user-$uid.slice" \
		PIDs au $# "$@" \
		0 || logger -p authpriv.err -t keep-with-pam-exec "could not keep $program $server"
done
exit 0
