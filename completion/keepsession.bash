# bash completion for keepsession(1)                       -*- shell-script -*-
# SPDX-License-Identifier: LGPL-2.1-or-later

_keepsession_units()
{
	systemctl list-units --no-legend --plain --full 'keepsession-*.scope' 2>/dev/null |
		awk '{ print $1 }'
}

_keepsession()
{
	local cur prev words cword
	_init_completion || return

	local commands='status list check release'
	local options='--json --pam-dir --conf --service --help --version'
	local command= i

	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--pam-dir | --conf | --user | --service)
			((i++))
			;;
		-*) ;;
		*)
			command=${words[i]}
			break
			;;
		esac
	done

	case $prev in
	--pam-dir)
		_filedir -d
		return
		;;
	--conf)
		_filedir
		return
		;;
	--user)
		COMPREPLY=($(compgen -u -- "$cur"))
		return
		;;
	--service)
		COMPREPLY=($(compgen -W "$(command ls /etc/pam.d 2>/dev/null)" -- "$cur"))
		return
		;;
	esac

	if [[ $cur == -* ]]; then
		[[ $command == release ]] && options='--user --help'
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
		return
	fi
	case $command in
	'')
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	status | list)
		COMPREPLY=($(compgen -u -- "$cur"))
		;;
	release)
		COMPREPLY=($(compgen -W "$(_keepsession_units)" -- "$cur"))
		;;
	esac
} &&
	complete -F _keepsession keepsession

# ex: filetype=sh
