# SPDX-License-Identifier: LGPL-2.1-or-later
#
# phases.awk -v key=CASE TRACE: the phases of one session close, from the
# events ks-trace.so recorded ("USEC EVENT [DETAIL]" lines). Prints
# "CASE<TAB>PHASE<TAB>USEC" lines, for the phases this close went through:
#
#   total      pam_close_session, the whole stack
#   module     pam_keepsession's part (to its "kept" line), or pam_exec's
#              script (fork to waitpid); up to pam_unix's line without either
#   policy     module start to its first /proc read: config, user, opt-in
#   scan       the first selection: cgroup.procs and /proc of the session
#   logind     the KillUserProcesses query (system bus, dbus-daemon, logind),
#              connect to its last answer before the manager's first call
#   logind_connect  of which the bus connection: socket, auth, Hello
#   connect    systemd's private socket: connect and authentication, to the
#              Version call; it overlaps logind, which runs meanwhile (with
#              when = kill the manager is asked on logind's connection: none)
#   version    the manager's Version property (private socket only)
#   setup      first connection to StartTransientUnit: logind, the manager's
#              setup and the terminate-user check, as they overlap
#   start      StartTransientUnit, call to reply
#   jobwait    reply to JobRemoved: systemd runs the start job
#   rescans    after the job: straggler rescans (and the work between calls)
#   attach     AttachProcessesToUnit calls, summed
#   rest       after the module: pam_unix, pam_systemd (ReleaseSession)
#   bus_waits  of the module, the time sd-bus blocked in ppoll() for an
#              answer (dbus-daemon, logind, PID 1: setup, start, job,
#              attach), wherever it falls
#   own        module - bus_waits: the module's own work on the close's
#              path, the opt-in reader's wait included
#   cpu        CPU time (user and system) the module used, in the process
#              and in the opt-in reader it reaped: its own work, without
#              any wait, for dbus-daemon, systemd or the scheduler
{
	n++
	t[n] = $1
	ev[n] = $2
	d[n] = $3
}

function first(what, detail, from,   i) {
	for (i = from; i <= n; i++)
		if (ev[i] == what && (detail == "" || index(d[i], detail) == 1))
			return i
	return 0
}

# The first method return or error from index from on.
function reply_from(from,   i) {
	for (i = from; i <= n; i++)
		if (ev[i] == "recv" && (d[i] == "type=2" || d[i] == "type=3"))
			return i
	return 0
}

function out(phase, usec) { printf "%s\t%s\t%d\n", key, phase, usec }

END {
	b = first("begin", "", 1)
	e = first("end", "", 1)
	if (!b || !e)
		exit 1
	out("total", t[e] - t[b])

	kept = first("log", "kept", b)
	waited = first("waited", "", b)
	proc = first("open", "/proc", b)
	# pam_exec's script ends at its waitpid(); the module's opt-in reader
	# is reaped too, after the module's first /proc read, and its work
	# goes on to pam_unix's line when it keeps nothing.
	if (waited && proc && proc < waited)
		waited = 0
	unix_log = first("log", "session_closed", b)
	module_end = kept ? kept : waited ? waited : unix_log
	if (module_end) {
		out("module", t[module_end] - t[b])
		out("rest", t[e] - t[module_end])
		waits = 0
		for (i = b; i < module_end; i++)
			if (ev[i] == "blocked")
				waits += d[i]
		if (first("connect", "", b) && first("connect", "", b) < module_end) {
			out("bus_waits", waits)
			out("own", t[module_end] - t[b] - waits)
		}
		# The cpu event recorded just before the line that ends the
		# module (pam_exec's script: none, its work is a child's).
		if (ev[module_end] == "log" && module_end > 1 && ev[module_end - 1] == "cpu")
			out("cpu", d[module_end - 1])
	}
	private = first("connect", "/run/systemd/private", b)
	sysbus = first("connect", "/run/dbus/system_bus_socket", b)
	# With when = kill the manager is asked on logind's system bus
	# connection; pam_systemd's own connection comes after "kept".
	if (sysbus && module_end && sysbus > module_end)
		sysbus = 0
	if (!private && !sysbus)
		exit 0

	bus = sysbus && (!private || sysbus < private) ? sysbus : private
	if (proc && proc < bus) {
		out("policy", t[proc] - t[b])
		out("scan", t[bus] - t[proc])
	}
	version = private ? first("send", "Version", private) : 0
	if (bus == sysbus) {
		# The keeper asks logind and connects to the manager before it
		# awaits either: logind runs from its connect to its last answer
		# before the manager's first call, overlapping "connect".
		get = first("send", "KillUserProcesses", sysbus)
		if (get)
			out("logind_connect", t[get] - t[sysbus])
		last = 0
		until = version ? version : first("send", "StartTransientUnit", sysbus)
		for (i = get; get && i <= (until ? until : n); i++)
			if (ev[i] == "recv" && (d[i] == "type=2" || d[i] == "type=3"))
				last = i
		if (last)
			out("logind", t[last] - t[sysbus])
	}

	if (version) {
		out("connect", t[version] - t[private])
		r = reply_from(version)
		if (r)
			out("version", t[r] - t[version])
	}
	start = first("send", "StartTransientUnit", bus)
	if (!start)
		exit 0
	out("setup", t[start] - t[bus])
	reply = reply_from(start)
	job = first("recv", "JobRemoved", start)
	if (reply)
		out("start", t[reply] - t[start])
	if (reply && job)
		out("jobwait", t[job] - t[reply])
	if (!job || !kept)
		exit 0
	calls = 0
	for (i = job; i < kept; i++)
		if (ev[i] == "send" && d[i] == "AttachProcessesToUnit" &&
		    (r = reply_from(i + 1)) && r < kept)
			calls += t[r] - t[i]
	out("attach", calls)
	out("rescans", t[kept] - t[job] - calls)
}
