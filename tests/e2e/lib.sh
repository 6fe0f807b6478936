# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
#
# Helpers for the end-to-end test: a cached Debian rootfs, a fresh copy of
# it per run with the module installed the way a user would install it, a
# systemd-nspawn boot of that copy, real ssh logins into it, and a teardown
# that never leaves a container behind. Sourced by tests/e2e/run (and by
# other e2e scripts): it defines functions and variables, it runs nothing.
#
# Everything here must work on a fresh Debian 12 host whose PID 1 is not
# systemd: no machined, no host bus, /run not a tmpfs.

KS_E2E_RELEASE=${KS_E2E_RELEASE:-bookworm}
KS_E2E_CGROUP=${KS_E2E_CGROUP:-unified}
KS_E2E_CACHE=${KS_E2E_CACHE:-/var/cache/pam-keepsession-e2e/$KS_E2E_RELEASE}
KS_E2E_MIRROR=${KS_E2E_MIRROR:-http://deb.debian.org/debian}
KS_E2E_INSTALL=${KS_E2E_INSTALL:-make}
KS_E2E_DEB=${KS_E2E_DEB:-}
KS_E2E_RUNBASE=${KS_E2E_RUNBASE:-/var/tmp}
KS_E2E_BOOT_TIMEOUT=${KS_E2E_BOOT_TIMEOUT:-90}
KS_E2E_KEEP_RUNDIR=${KS_E2E_KEEP_RUNDIR:-0}
# Extra packages for the rootfs (space separated); part of the cache key.
KS_E2E_EXTRA_PACKAGES=${KS_E2E_EXTRA_PACKAGES:-}

# sudo: nested PAM sessions inside a login (sudo -i); build-essential,
# debhelper, dpkg-dev: KS_E2E_INSTALL=deb builds the package in the container.
KS_ROOTFS_PACKAGES="systemd systemd-sysv dbus libpam-systemd openssh-server openssh-client
tmux screen procps iproute2 make gcc libc6-dev pkg-config libpam0g-dev libsystemd-dev
sudo build-essential debhelper dpkg-dev"

# The rootfs layout version: bump it when ks_rootfs_build changes what it
# puts into the cache, so that stale caches are rebuilt.
KS_ROOTFS_FORMAT=1

# Short logind delay so that "past the user's last logout" comes quickly.
KS_USER_STOP_DELAY_SEC=2

KS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# Run state, filled in as the run goes.
KS_RUNDIR=
KS_ROOT=
KS_MACHINE=
KS_NSPAWN_PID=
KS_PID1=
KS_KEY=
KS_MOUNTED_NSPAWN_TMPFS=0
KS_CHROOT_MOUNTS=()
KS_CGROUPS=()
KS_MODULE_WHY=
KS_DRIVER_WHY=
KS_DEB_BUILT=
KS_PASSED=0
KS_FAILED=0
KS_SKIPPED=0

ks_msg() { printf '# %s\n' "$*"; }
ks_die() { printf 'e2e: error: %s\n' "$*" >&2; exit 1; }

# TAP-like result lines.
ks_ok() { KS_PASSED=$((KS_PASSED + 1)); printf 'ok - %s\n' "$1"; }
ks_not_ok() {
	KS_FAILED=$((KS_FAILED + 1))
	printf 'not ok - %s: %s\n' "$1" "$2"
}
# ks_skip NAME REASON: a scenario whose case does not exist here.
ks_skip() {
	KS_SKIPPED=$((KS_SKIPPED + 1))
	printf 'ok - %s # SKIP %s\n' "$1" "$2"
}
ks_summary() {
	printf 'e2e: %d passed, %d failed, %d skipped\n' "$KS_PASSED" "$KS_FAILED" "$KS_SKIPPED"
}

# ks_wait_until TIMEOUT_SEC CMD...: polls CMD every 0.2 s until it
# succeeds; returns 1 if it never did within TIMEOUT_SEC.
ks_wait_until() {
	local timeout=$1; shift
	local deadline=$((SECONDS + timeout))
	while :; do
		if "$@"; then return 0; fi
		if ((SECONDS >= deadline)); then return 1; fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------- host ---

ks_host_prepare() {
	[[ $EUID -eq 0 ]] || ks_die "must run as root (debootstrap, chroot, systemd-nspawn)"
	local need=() cmd pkg
	for cmd in debootstrap:debootstrap systemd-nspawn:systemd-container \
		   ssh:openssh-client ssh-keygen:openssh-client nsenter:util-linux \
		   pgrep:procps flock:util-linux; do
		command -v "${cmd%%:*}" >/dev/null 2>&1 || need+=("${cmd#*:}")
	done
	if ((${#need[@]})); then
		mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
		ks_msg "installing host packages: ${need[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
		for pkg in "${need[@]}"; do
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null ||
				ks_die "apt-get install $pkg failed"
		done
	fi
}

# ------------------------------------------------------------- rootfs ---

ks_rootfs_stamp() {
	printf 'format=%s release=%s mirror=%s packages=%s\n' "$KS_ROOTFS_FORMAT" \
		"$KS_E2E_RELEASE" "$KS_E2E_MIRROR" \
		"$(ks_rootfs_packages | tr '\n' ' ')"
}

# The rootfs packages, one a line, sorted.
ks_rootfs_packages() {
	local -a pkgs
	read -r -d '' -a pkgs <<<"$KS_ROOTFS_PACKAGES $KS_E2E_EXTRA_PACKAGES" || true
	printf '%s\n' "${pkgs[@]}" | sort -u
}

# Builds $KS_E2E_CACHE/rootfs once (debootstrap minbase plus what the test
# needs). Concurrent runs serialise on a lock; the tree is built aside and
# renamed into place, so a half-built cache is never used.
ks_rootfs_ensure() {
	local stamp; stamp=$(ks_rootfs_stamp)
	mkdir -p "$KS_E2E_CACHE"
	exec {ks_lock_fd}>"$KS_E2E_CACHE/lock"
	flock "$ks_lock_fd"
	if [[ -d $KS_E2E_CACHE/rootfs && -f $KS_E2E_CACHE/stamp &&
	      $(cat "$KS_E2E_CACHE/stamp") == "$stamp" ]]; then
		ks_msg "rootfs cache: $KS_E2E_CACHE/rootfs"
	else
		ks_rootfs_build "$stamp"
	fi
	flock -u "$ks_lock_fd"
	exec {ks_lock_fd}>&-
}

ks_rootfs_build() {
	local stamp=$1 tmp="$KS_E2E_CACHE/rootfs.new.$$" pkgs
	pkgs=$(ks_rootfs_packages | paste -sd ,)
	ks_msg "building rootfs for $KS_E2E_RELEASE in $KS_E2E_CACHE (once; takes minutes)"
	rm -rf "$KS_E2E_CACHE"/rootfs.new.*
	if ! debootstrap --variant=minbase --include="$pkgs" "$KS_E2E_RELEASE" "$tmp" \
		"$KS_E2E_MIRROR" >"$KS_E2E_CACHE/debootstrap.log" 2>&1; then
		tail -n 30 "$KS_E2E_CACHE/debootstrap.log" >&2
		rm -rf "$tmp"
		ks_die "debootstrap failed (log: $KS_E2E_CACHE/debootstrap.log)"
	fi
	# Per-run state is made per run: host keys, machine id.
	rm -f "$tmp"/etc/ssh/ssh_host_*
	: >"$tmp/etc/machine-id"
	rm -f "$tmp/var/lib/dbus/machine-id"
	chroot "$tmp" apt-get clean
	rm -rf "$tmp"/var/lib/apt/lists/*
	# A UTF-8 locale for every session (tmux wants one); C.UTF-8 is built
	# into glibc, no locales package needed.
	echo 'LANG=C.UTF-8' >"$tmp/etc/default/locale"
	rm -rf "$KS_E2E_CACHE/rootfs"
	mv "$tmp" "$KS_E2E_CACHE/rootfs"
	printf '%s\n' "$stamp" >"$KS_E2E_CACHE/stamp"
	ks_msg "rootfs cached"
}

# ---------------------------------------------------------------- run ---

# A fresh copy of the cached rootfs in a unique run dir.
ks_run_prepare() {
	KS_RUNDIR=$(mktemp -d "$KS_E2E_RUNBASE/ks-e2e.XXXXXX")
	KS_MACHINE="ks-e2e-$(basename "$KS_RUNDIR" | cut -d. -f2 | tr '[:upper:]' '[:lower:]')-$$"
	KS_ROOT=$KS_RUNDIR/root
	ks_msg "run dir $KS_RUNDIR, machine $KS_MACHINE"
	# A shared lock: another run's ks_rootfs_ensure (exclusive) must not
	# replace the cache while it is being copied.
	exec {ks_lock_fd}>"$KS_E2E_CACHE/lock"
	flock -s "$ks_lock_fd"
	cp -a --reflink=auto "$KS_E2E_CACHE/rootfs" "$KS_ROOT"
	flock -u "$ks_lock_fd"
	exec {ks_lock_fd}>&-
}

ks_chroot_mount() {
	local what=$1 where=$KS_ROOT$2; shift 2
	mount "$@" "$what" "$where" && KS_CHROOT_MOUNTS+=("$where")
}

ks_chroot_umount_all() {
	local i
	for ((i = ${#KS_CHROOT_MOUNTS[@]} - 1; i >= 0; i--)); do
		umount "${KS_CHROOT_MOUNTS[i]}" 2>/dev/null ||
			umount -l "${KS_CHROOT_MOUNTS[i]}" 2>/dev/null || true
	done
	KS_CHROOT_MOUNTS=()
}

ks_chroot() {
	chroot "$KS_ROOT" /usr/bin/env -i PATH="$KS_PATH" LANG=C.UTF-8 HOME=/root "$@"
}

# Installs the module into the copy: with the project's own Makefile, as a
# user of that release would (default), or from a .deb (KS_E2E_INSTALL=deb):
# the one KS_E2E_DEB names, or, when it is unset, one built inside the copy
# with dpkg-buildpackage, as a Debian user of that release would. Either
# way the source tree is copied to /src (ks_build_driver builds there).
ks_install_module() {
	local src=$1 log=$KS_RUNDIR/install.log deb
	ks_chroot_mount proc /proc -t proc
	ks_chroot_mount /dev /dev --bind
	mkdir -p "$KS_ROOT/src"
	tar -C "$src" --exclude=./.git --exclude=./build -cf - . |
		tar -C "$KS_ROOT/src" -xf -
	case $KS_E2E_INSTALL in
	make)
		if ! ks_chroot make -C /src install >"$log" 2>&1; then
			KS_MODULE_WHY="make -C /src install failed in the container"
			tail -n 40 "$log" | sed 's/^/#   make: /'
			ks_chroot_umount_all
			return 1
		fi
		;;
	deb)
		if [[ -n $KS_E2E_DEB ]]; then
			[[ -f $KS_E2E_DEB ]] || ks_die "KS_E2E_DEB=$KS_E2E_DEB: no such file"
			cp "$KS_E2E_DEB" "$KS_ROOT/tmp/pam-keepsession.deb"
			deb=/tmp/pam-keepsession.deb
		else
			ks_build_deb || { ks_chroot_umount_all; return 1; }
			deb=$KS_DEB_BUILT
		fi
		# The command's package, built alongside, when there is one.
		if [[ -z $KS_E2E_DEB && -f $KS_ROOT${deb%/*}/keepsession_${deb#*/libpam-keepsession_} ]]; then
			deb="$deb ${deb%/*}/keepsession_${deb#*/libpam-keepsession_}"
		fi
		# shellcheck disable=SC2086 # one or two paths, without blanks
		if ! ks_chroot dpkg -i $deb >>"$log" 2>&1; then
			KS_MODULE_WHY="dpkg -i ${deb##*/} failed in the container"
			tail -n 40 "$log" | sed 's/^/#   dpkg: /'
			ks_chroot_umount_all
			return 1
		fi
		ks_msg "installed $(for d in $deb; do printf '%s ' "${d##*/}"; done)"
		;;
	*) ks_die "KS_E2E_INSTALL must be make or deb, not '$KS_E2E_INSTALL'" ;;
	esac
	ks_chroot_umount_all
	local so
	so=$(ks_module_path) || { KS_MODULE_WHY="pam_keepsession.so not installed"; return 1; }
	# libpam dlsym()s the hooks: a module that does not export them is
	# skipped with one "PAM unable to resolve symbol" line per login.
	if ! ks_chroot nm -D --defined-only "$so" | grep -q ' T pam_sm_open_session$' ||
	   ! ks_chroot nm -D --defined-only "$so" | grep -q ' T pam_sm_close_session$'; then
		KS_MODULE_WHY="$so does not export pam_sm_open_session and pam_sm_close_session"
		KS_MODULE_WHY+=" (exported: $(ks_chroot nm -D --defined-only "$so" |
			awk '{ print $3 }' | tr '\n' ' '))"
		return 1
	fi
}

# Builds the binary package from a copy of /src in /build (proc and dev
# mounted), without the unit tests (nocheck: they ran before, and their
# build dependency is not in the rootfs). Sets KS_DEB_BUILT to the .deb's
# path in the rootfs, or KS_MODULE_WHY.
ks_build_deb() {
	local log=$KS_RUNDIR/deb-build.log debs
	rm -rf "$KS_ROOT/build"
	mkdir -p "$KS_ROOT/build"
	cp -a "$KS_ROOT/src" "$KS_ROOT/build/pam-keepsession"
	if ! ks_chroot DEB_BUILD_OPTIONS=nocheck DEB_BUILD_PROFILES=nocheck \
		sh -c 'cd /build/pam-keepsession && dpkg-buildpackage -us -uc -b' >"$log" 2>&1; then
		KS_MODULE_WHY="dpkg-buildpackage failed in the container (log: deb-build.log)"
		tail -n 40 "$log" | sed 's/^/#   dpkg-buildpackage: /'
		return 1
	fi
	debs=("$KS_ROOT"/build/libpam-keepsession_*.deb)
	[[ -f ${debs[0]} ]] || {
		KS_MODULE_WHY="dpkg-buildpackage made no libpam-keepsession_*.deb"
		return 1
	}
	KS_DEB_BUILT=${debs[0]#"$KS_ROOT"}
}

# Builds tests/pamdriver/ks-pam-driver from /src (ks_install_module copied
# it there) into /usr/local/bin of the copy. Returns 1 with KS_DRIVER_WHY.
ks_build_driver() {
	local log=$KS_RUNDIR/driver.log
	ks_chroot_mount proc /proc -t proc
	ks_chroot_mount /dev /dev --bind
	if ! ks_chroot make -C /src driver >"$log" 2>&1; then
		# shellcheck disable=SC2034 # read by the scripts that source this
		KS_DRIVER_WHY="make -C /src driver failed in the container"
		tail -n 20 "$log" | sed 's/^/#   make driver: /'
		ks_chroot_umount_all
		return 1
	fi
	ks_chroot_umount_all
	install -m 0755 "$KS_ROOT/src/build/ks-pam-driver" "$KS_ROOT/usr/local/bin/ks-pam-driver"
}

# Where the installed module is, relative to the rootfs.
ks_module_path() {
	local f
	for f in "$KS_ROOT"/usr/lib/*/security/pam_keepsession.so \
		 "$KS_ROOT"/lib/*/security/pam_keepsession.so \
		 "$KS_ROOT"/usr/lib/security/pam_keepsession.so; do
		[[ -f $f ]] && { echo "${f#"$KS_ROOT"}"; return 0; }
	done
	return 1
}

# ks_add_user NAME [GROUPS]: a login user whose authorized_keys holds the
# run's throwaway key.
ks_add_user() {
	local name=$1 groups=${2:-} home
	if [[ -n $groups ]]; then
		ks_chroot useradd -m -s /bin/bash -G "$groups" "$name"
	else
		ks_chroot useradd -m -s /bin/bash "$name"
	fi
	home=$KS_ROOT/home/$name
	install -d -m 0700 "$home/.ssh"
	install -m 0600 "$KS_KEY.pub" "$home/.ssh/authorized_keys"
	ks_chroot chown -R "$name:$name" "/home/$name/.ssh"
}

# logind kills what a session leaves behind (the problem the module
# solves), sshd takes keys only, and the stock PAM stack is kept aside so
# that each scenario can place the module line itself.
ks_configure() {
	mkdir -p "$KS_ROOT/etc/systemd/logind.conf.d"
	cat >"$KS_ROOT/etc/systemd/logind.conf.d/50-ks-e2e.conf" <<-EOF2
	[Login]
	KillUserProcesses=yes
	UserStopDelaySec=${KS_USER_STOP_DELAY_SEC}s
	EOF2

	ks_chroot ssh-keygen -A >/dev/null
	# sshd_config takes the first value it reads: put ours first.
	{
		cat <<-EOF2
		# ks-e2e: key authentication only
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		ChallengeResponseAuthentication no
		UsePAM yes
		PermitRootLogin no
		ListenAddress 127.0.0.1
		EOF2
		cat "$KS_ROOT/etc/ssh/sshd_config"
	} >"$KS_ROOT/etc/ssh/sshd_config.new"
	mv "$KS_ROOT/etc/ssh/sshd_config.new" "$KS_ROOT/etc/ssh/sshd_config"
	# Older sshd (bullseye) warns about the deprecated keyword; harmless.

	cp -a "$KS_ROOT/etc/pam.d/sshd" "$KS_ROOT/etc/pam.d/sshd.ks-e2e-orig"
	grep -q '^@include common-session' "$KS_ROOT/etc/pam.d/sshd" ||
		ks_die "/etc/pam.d/sshd has no '@include common-session' line"
	rm -f "$KS_ROOT/etc/security/keepsession.conf"

	# Nothing in the container needs a getty; fewer units, faster boot.
	ks_chroot systemctl mask console-getty.service getty@.service >/dev/null 2>&1 || true
}

# ks_set_pam none|before|after [OPTIONS...]: rewrites /etc/pam.d/sshd in
# the running container from the stock file. "before" is where README tells
# admins to put the line: right before "@include common-session" (and so
# before pam_systemd). sshd reads its PAM stack per connection.
ks_set_pam() {
	local where=$1; shift
	local line="session optional pam_keepsession.so${*:+ $*}"
	local orig=$KS_ROOT/etc/pam.d/sshd.ks-e2e-orig out=$KS_ROOT/etc/pam.d/sshd.new
	case $where in
	none) cp "$orig" "$out" ;;
	before) awk -v l="$line" '/^@include common-session/ { print l } { print }' "$orig" >"$out" ;;
	after) awk -v l="$line" '{ print } /^@include common-session/ { print l }' "$orig" >"$out" ;;
	*) ks_die "ks_set_pam: bad placement '$where'" ;;
	esac
	mv "$out" "$KS_ROOT/etc/pam.d/sshd"
}

# ks_set_conf [TEXT]: writes /etc/security/keepsession.conf (removes it
# when TEXT is empty), root-owned, 0644.
ks_set_conf() {
	local f=$KS_ROOT/etc/security/keepsession.conf
	if [[ -z ${1:-} ]]; then
		rm -f "$f"
	else
		printf '%s\n' "$1" >"$f.new"
		chmod 0644 "$f.new"
		mv "$f.new" "$f"
	fi
}

# ---------------------------------------------------------------- boot ---

# nspawn keeps propagation mounts under /run/systemd/nspawn, which must be
# on a tmpfs: without systemd as PID 1, /run often is not one.
ks_nspawn_tmpfs() {
	mkdir -p /run/systemd/nspawn
	if ! mountpoint -q /run/systemd/nspawn; then
		mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn
		KS_MOUNTED_NSPAWN_TMPFS=1
	fi
}

ks_boot() {
	local nspawn_env=()
	# nspawn knows two modes by environment: all unified (1) or all legacy
	# (0). Hybrid it only inherits from a hybrid host, with the variable
	# unset.
	case $KS_E2E_CGROUP in
	unified) nspawn_env=(SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1) ;;
	hybrid)
		[[ $(stat -fc %T /sys/fs/cgroup) == tmpfs &&
		   $(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]] ||
			ks_die "KS_E2E_CGROUP=hybrid needs a hybrid host (cgroup2 on /sys/fs/cgroup/unified)"
		# systemd 258 dropped cgroup v1: PID 1 refuses to start on it.
		local v; v=$(ks_chroot systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
		[[ $v =~ ^[0-9]+$ ]] && ((v >= 258)) &&
			ks_die "systemd $v in $KS_E2E_RELEASE runs on cgroup v2 only: no hybrid cell"
		nspawn_env=(-u SYSTEMD_NSPAWN_UNIFIED_HIERARCHY -u UNIFIED_CGROUP_HIERARCHY) ;;
	# Legacy (=0) is not offered: in a container, systemd gets no
	# release-agent notifications, and units hang in "deactivating".
	*) ks_die "KS_E2E_CGROUP must be unified or hybrid, not '$KS_E2E_CGROUP'" ;;
	esac
	ks_nspawn_tmpfs
	ks_cgroup_prepare
	# --keep-unit/--register=no: there is no host manager or bus to ask.
	# nspawn then splits the cgroup it runs in into supervisor/ and
	# payload/: start it in a cgroup of its own, or two runs at once
	# would share one.
	(
		for cg in "${KS_CGROUPS[@]}"; do
			echo "$BASHPID" >"$cg/cgroup.procs"
		done
		exec env "${nspawn_env[@]}" \
		systemd-nspawn -b -D "$KS_ROOT" --private-network --register=no --keep-unit \
			--machine="$KS_MACHINE" --console=read-only
	) </dev/null >"$KS_RUNDIR/nspawn.log" 2>&1 &
	KS_NSPAWN_PID=$!
	ks_msg "nspawn pid $KS_NSPAWN_PID"

	if ! ks_wait_until 30 ks_find_pid1; then
		tail -n 30 "$KS_RUNDIR/nspawn.log" >&2
		return 1
	fi
	# Until PID 1 listens on its socket, systemctl fails at once: retry.
	local state='' deadline=$((SECONDS + KS_E2E_BOOT_TIMEOUT))
	while ((SECONDS < deadline)); do
		state=$(timeout $((deadline - SECONDS)) nsenter -t "$KS_PID1" -a \
			systemctl is-system-running --wait 2>/dev/null) || true
		[[ $state == @(running|degraded|maintenance|stopping) ]] && break
		ks_pid_alive "$KS_PID1" || break
		sleep 0.5
	done
	ks_msg "container PID 1 is host pid $KS_PID1; system state: ${state:-unknown}"
	case $state in
	running) ;;
	degraded)
		ks_in systemctl --failed --no-legend --plain | sed 's/^/#   failed: /' ;;
	*)
		tail -n 30 "$KS_RUNDIR/nspawn.log" >&2
		return 1 ;;
	esac
	local mode
	mode=$(ks_container_cgroup_mode)
	[[ $mode == "$KS_E2E_CGROUP" ]] ||
		{ ks_msg "asked for cgroup mode $KS_E2E_CGROUP, the container runs $mode"; return 1; }
	ks_wait_until 20 ks_in systemctl -q is-active ssh.service ||
		{ ks_msg "ssh.service did not start"; return 1; }
	ks_wait_until 20 ks_in systemctl -q is-active systemd-logind.service ||
		{ ks_msg "systemd-logind did not start"; return 1; }
}

# One cgroup per run in the hierarchies systemd uses: the cgroup2 one and,
# on hybrid hosts, the named "systemd" v1 one.
ks_cgroup_prepare() {
	local mnt
	mnt=$(findmnt -rn -t cgroup2 -o TARGET | head -n 1)
	[[ -n $mnt ]] && KS_CGROUPS+=("$mnt/$KS_MACHINE")
	mnt=$(findmnt -rn -t cgroup -O name=systemd -o TARGET | head -n 1)
	[[ -n $mnt ]] && KS_CGROUPS+=("$mnt/$KS_MACHINE")
	((${#KS_CGROUPS[@]})) || ks_die "no cgroup2 or name=systemd hierarchy mounted"
	mkdir "${KS_CGROUPS[@]}"
}

ks_cgroup_remove_one() {
	[[ -d $1 ]] || return 0
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	[[ ! -d $1 ]]
}

ks_cgroup_remove() {
	local cg
	for cg in "${KS_CGROUPS[@]}"; do
		ks_wait_until 10 ks_cgroup_remove_one "$cg" ||
			ks_msg "could not remove cgroup $cg"
	done
	KS_CGROUPS=()
}

# How the booted container's systemd tracks processes.
ks_container_cgroup_mode() {
	case $(ks_in stat -fc %T /sys/fs/cgroup) in
	cgroup2fs) echo unified ;;
	tmpfs)
		if [[ $(ks_in stat -fc %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
			echo hybrid
		else
			echo legacy
		fi ;;
	*) echo unknown ;;
	esac
}

# The container's PID 1 is the child of systemd-nspawn that runs init.
ks_find_pid1() {
	local pid
	ks_pid_alive "$KS_NSPAWN_PID" || return 1
	for pid in $(pgrep -P "$KS_NSPAWN_PID"); do
		if [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */systemd ]] ||
		   [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd ]]; then
			KS_PID1=$pid
			return 0
		fi
	done
	return 1
}

# ks_in CMD...: runs CMD inside the container as root, clean environment.
ks_in() {
	nsenter -t "$KS_PID1" -a /usr/bin/env -i PATH="$KS_PATH" LANG=C.UTF-8 "$@"
}

# ks_as USER CMD...: runs CMD inside the container as USER, without PAM
# (no logind session is opened by this).
ks_as() {
	local user=$1; shift
	ks_in setpriv --reuid="$user" --regid="$user" --init-groups \
		/usr/bin/env -i PATH="$KS_PATH" LANG=C.UTF-8 HOME="/home/$user" USER="$user" "$@"
}

# ks_ssh USER [SSH OPTIONS...] -- CMD: a real login over the container's
# loopback, from the host's ssh client in the container's network namespace.
ks_ssh() {
	local user=$1; shift
	local opts=()
	while (($#)) && [[ $1 != -- ]]; do opts+=("$1"); shift; done
	[[ ${1:-} == -- ]] && shift
	timeout 60 nsenter -t "$KS_PID1" -n ssh -i "$KS_KEY" -F /dev/null \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o BatchMode=yes -o LogLevel=ERROR -o ConnectTimeout=10 \
		-o SendEnv=LANG "${opts[@]}" "$user@127.0.0.1" "$@" </dev/null
}

ks_make_key() {
	KS_KEY=$KS_RUNDIR/id_ed25519
	ssh-keygen -q -t ed25519 -N '' -C "ks-e2e" -f "$KS_KEY"
}

# --------------------------------------------------------------- teardown

ks_teardown() {
	local rc=$?
	trap - EXIT INT TERM HUP
	set +e
	# A scenario may have stopped the container's PID 1 (SIGSTOP): it
	# must run to power off.
	[[ -n $KS_PID1 ]] && kill -CONT "$KS_PID1" 2>/dev/null
	if [[ -n $KS_NSPAWN_PID ]] && ks_pid_alive "$KS_NSPAWN_PID"; then
		if [[ -n $KS_PID1 ]] && ks_pid_alive "$KS_PID1"; then
			timeout 10 nsenter -t "$KS_PID1" -a systemctl poweroff --no-block \
				>/dev/null 2>&1
		fi
		ks_wait_until 30 ks_nspawn_gone ||
			{ kill -TERM "$KS_NSPAWN_PID" 2>/dev/null; ks_wait_until 10 ks_nspawn_gone; } ||
			{
				[[ -n $KS_PID1 ]] && kill -KILL "$KS_PID1" 2>/dev/null
				kill -KILL "$KS_NSPAWN_PID" 2>/dev/null
				ks_wait_until 10 ks_nspawn_gone
			}
		wait "$KS_NSPAWN_PID" 2>/dev/null
	fi
	ks_chroot_umount_all
	ks_cgroup_remove
	if ((KS_MOUNTED_NSPAWN_TMPFS)); then
		# Other runs may have started containers meanwhile: leave the
		# tmpfs to them while they use it.
		if [[ -z $(ls -A /run/systemd/nspawn/propagate 2>/dev/null) ]]; then
			umount /run/systemd/nspawn 2>/dev/null
		fi
	fi
	if [[ -n $KS_RUNDIR && -d $KS_RUNDIR ]]; then
		if [[ $KS_E2E_KEEP_RUNDIR == 1 ]]; then
			ks_msg "kept run dir $KS_RUNDIR"
		elif findmnt -rn -o TARGET | grep -q "^$KS_RUNDIR"; then
			ks_msg "not removing $KS_RUNDIR: something is still mounted below it"
		else
			rm -rf --one-file-system "$KS_RUNDIR"
		fi
	fi
	exit "$rc"
}

# A process that exited but was not reaped yet (our nspawn child) is a
# zombie: kill -0 still succeeds on it, so read its state.
ks_pid_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != [ZX] ]]
}

ks_nspawn_gone() { ! ks_pid_alive "$KS_NSPAWN_PID"; }

ks_trap_teardown() {
	trap ks_teardown EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# ------------------------------------------------------ scenario helpers ---

ks_uid() { ks_in id -u "$1"; }

# Prints the logind session ids of USER, one a line.
ks_sessions_of() {
	ks_in loginctl list-sessions --no-legend 2>/dev/null |
		awk -v u="$1" '$3 == u { print $1 }'
}

ks_has_no_session() { [[ -z $(ks_sessions_of "$1") ]]; }

ks_user_manager_stopped() {
	local state
	state=$(ks_in systemctl is-active "user@$1.service" 2>/dev/null) || true
	[[ $state == inactive || $state == failed || $state == unknown ]]
}

# ks_wait_logout USER: after the ssh client returned, waits until logind
# has no session of USER left and, past UserStopDelaySec, the user's
# manager has stopped: the moment logind's killing is all done.
ks_wait_logout() {
	local user=$1 uid
	uid=$(ks_uid "$user")
	ks_wait_until 20 ks_has_no_session "$user" || {
		ks_msg "logind still has a session of $user: $(ks_sessions_of "$user" | tr '\n' ' ')"
		return 1
	}
	ks_wait_until $((KS_USER_STOP_DELAY_SEC + 20)) ks_user_manager_stopped "$uid" || {
		ks_msg "user@$uid.service of $user is still $(ks_in systemctl is-active "user@$uid.service")"
		return 1
	}
}

# ks_proc_is PID PROGRAM: is container pid PID alive and running PROGRAM
# (the base name of its executable; comm is no use: tmux renames itself
# "tmux: server")? A zombie has no executable link, so it counts as dead.
ks_proc_is() {
	local exe
	exe=$(ks_in readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[[ ${exe##*/} == "$2" ]]
}

ks_proc_gone() { ! ks_proc_is "$@"; }

# ks_wait_gone PID COMM: bounded wait for a process to die.
ks_wait_gone() { ks_wait_until 15 ks_proc_gone "$1" "$2"; }

ks_proc_cgroup() { ks_in cat "/proc/$1/cgroup" 2>/dev/null; }

# The journal position now, to read only what a scenario logs.
ks_journal_cursor() {
	ks_in journalctl -n 1 -o export --no-pager 2>/dev/null |
		sed -n 's/^__CURSOR=//p' | head -n 1
}

# ks_journal_after CURSOR [journalctl args...]
ks_journal_after() {
	local cursor=$1; shift
	ks_in journalctl --no-pager -q --after-cursor="$cursor" "$@" 2>/dev/null
}

# ks_journal_has CURSOR ERE: bounded wait for a matching journal line
# (journald receives syslog lines asynchronously).
# grep reads it all: with -q it would quit at the first match, and journalctl,
# still writing, dies of SIGPIPE, which pipefail turns into a miss.
ks_journal_grep() { ks_journal_after "$1" -o short-monotonic | grep -E -- "$2" >/dev/null; }
ks_journal_has() { ks_wait_until 10 ks_journal_grep "$1" "$2"; }

# Prints the module's journal lines since CURSOR as comments.
ks_journal_show() {
	ks_journal_after "$1" -o short-monotonic |
		grep -E "${2:-pam_|sshd|systemd-logind|keepsession-|session-[0-9]+\.scope}" |
		sed 's/^/#   journal: /' | tail -n 25
}

# ks_reset_user USER: nothing of USER left running: no session, no kept
# scope, no process, and the user's manager stopped.
ks_reset_user() {
	local user=$1 uid
	uid=$(ks_uid "$user")
	ks_in loginctl terminate-user "$user" >/dev/null 2>&1 || true
	ks_in systemctl stop "keepsession-$user-*.scope" >/dev/null 2>&1 || true
	ks_wait_until 20 ks_user_killed_idle "$user" "$uid" ||
		ks_msg "could not reset $user: $(ks_in pgrep -a -u "$user")"
	ks_in systemctl reset-failed >/dev/null 2>&1 || true
	ks_in rm -rf "/tmp/tmux-$uid" "/run/screen/S-$user"
}

# Kills again on every poll: a forking loop may start a child past one
# pkill's snapshot.
ks_user_killed_idle() {
	ks_in pkill -KILL -u "$1" >/dev/null 2>&1 || true
	ks_user_idle "$@"
}

ks_user_idle() {
	! ks_in pgrep -u "$1" >/dev/null && ks_has_no_session "$1" &&
		ks_user_manager_stopped "$2"
}
