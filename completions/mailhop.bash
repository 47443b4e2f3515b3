# bash completion for mailhop(1)                          -*- shell-script -*-
# SPDX-License-Identifier: ISC

# Print the account names defined in the configuration files: the -C file
# when one is given, else the user's file and the system's file.
_mailhop_accounts()
{
	local conf=$1 f
	local -a files

	if [[ -n $conf ]]; then
		[[ $conf == "~/"* ]] && conf=$HOME/${conf#"~/"}
		files=("$conf")
	else
		files=("${XDG_CONFIG_HOME:-$HOME/.config}/mailhop/config"
		    /etc/mailhop.conf)
	fi
	for f in "${files[@]}"; do
		[[ -r $f ]] || continue
		sed -n -e "s/^[[:space:]]*account[[:space:]]\{1,\}[\"']\{0,1\}\([^\"'{[:space:]]\{1,\}\).*/\1/p" \
		    -- "$f" 2>/dev/null
	done | sort -u
}

# Print the ids in the user's queue (msg/ and failed/), for -qI and -qD.
_mailhop_queue_ids()
{
	local q=${XDG_STATE_HOME:-$HOME/.local/state}/mailhop/queue d
	for d in "$q/msg" "$q/failed"; do
		[[ -d $d ]] && ls -- "$d" 2>/dev/null
	done
}

_mailhop_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir
	else
		local IFS=$'\n'
		COMPREPLY=($(compgen -f -- "$1"))
	fi
}

_mailhop()
{
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	local conf="" i w IFS=$' \t\n'

	COMPREPLY=()

	# Stop at "--": recipients only from there on.  Note a -C file for
	# the account list.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--) return 0 ;;
		-C | -[itvmnxcGUI]*C) conf=${COMP_WORDS[i+1]} ;;
		-C?*) conf=${w#-C} ;;
		esac
	done

	# bash splits "--store-password=NAME" at the "=".
	if [[ $prev == = && ${COMP_WORDS[COMP_CWORD-2]} == --store-password ]]
	then
		COMPREPLY=($(compgen -W "$(_mailhop_accounts "$conf")" -- "$cur"))
		return 0
	fi

	# A value-taking letter may end a group, as in "-ta work".
	case $prev in
	-a | -[itvmnxcGUI]*a | --store-password)
		COMPREPLY=($(compgen -W "$(_mailhop_accounts "$conf")" -- "$cur"))
		return 0
		;;
	-C | -X | -[itvmnxcGUI]*[CX])
		_mailhop_files "$cur"
		return 0
		;;
	-B | -[itvmnxcGUI]*B)
		COMPREPLY=($(compgen -W '7BIT 8BITMIME' -- "$cur"))
		return 0
		;;
	-N | -[itvmnxcGUI]*N)
		COMPREPLY=($(compgen -W 'never success failure delay
		    failure,delay success,failure,delay' -- "$cur"))
		return 0
		;;
	-R | -[itvmnxcGUI]*R)
		COMPREPLY=($(compgen -W 'full hdrs' -- "$cur"))
		return 0
		;;
	-b | -[itvmnxcGUI]*b)
		COMPREPLY=($(compgen -W 'm p i s' -- "$cur"))
		return 0
		;;
	-[fFrVoOAhLep] | -[itvmnxcGUI]*[fFrVoOAhLep])
		return 0
		;;
	esac

	case $cur in
	--store-password=*)
		COMPREPLY=($(compgen -P --store-password= \
		    -W "$(_mailhop_accounts "$conf")" -- "${cur#*=}"))
		;;
	-a?*)
		COMPREPLY=($(compgen -P -a -W "$(_mailhop_accounts "$conf")" \
		    -- "${cur#-a}"))
		;;
	-qI?* | -qD?*)
		COMPREPLY=($(compgen -P "${cur:0:3}" \
		    -W "$(_mailhop_queue_ids) failed" -- "${cur:3}"))
		;;
	-*)
		COMPREPLY=($(compgen -W '-a -B -C -F -f -i -N -R -r -t -V -v
		    -bm -bp -bi -bs -I -q -qI -qD -qDfailed --pretend
		    --serverinfo --store-password --' -- "$cur"))
		;;
	esac
	return 0
}

complete -F _mailhop mailhop
