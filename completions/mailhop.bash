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
	# A quoted name may hold spaces: account "my home" {
	for f in "${files[@]}"; do
		[[ -r $f ]] || continue
		sed -n \
		    -e 's/^[[:space:]]*account[[:space:]]\{1,\}"\([^"]\{1,\}\)".*/\1/p' -e t \
		    -e "s/^[[:space:]]*account[[:space:]]\{1,\}'\([^']\{1,\}\)'.*/\1/p" -e t \
		    -e "s/^[[:space:]]*account[[:space:]]\{1,\}\([^\"'{[:space:]]\{1,\}\).*/\1/p" \
		    -- "$f" 2>/dev/null
	done | sort -u
}

# Add to COMPREPLY the accounts that start like $2, quoted for the shell
# (a space as "\ "), each after the prefix $1.
_mailhop_add_accounts()
{
	local prefix=$1 cur=$2 name q IFS=$'\n'

	for name in $(_mailhop_accounts "$conf"); do
		q=$(printf '%q' "$name")
		[[ $q == "$cur"* ]] && COMPREPLY+=("$prefix$q")
	done
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
		_mailhop_add_accounts "" "$cur"
		return 0
	fi

	# A value-taking letter may end a group, as in "-ta work".
	case $prev in
	-a | -[itvmnxcGUI]*a | --store-password)
		_mailhop_add_accounts "" "$cur"
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
		_mailhop_add_accounts --store-password= "${cur#*=}"
		;;
	-a?*)
		_mailhop_add_accounts -a "${cur#-a}"
		;;
	-qI?* | -qD?*)
		COMPREPLY=($(compgen -P "${cur:0:3}" \
		    -W "$(_mailhop_queue_ids) failed" -- "${cur:3}"))
		;;
	-*)
		COMPREPLY=($(compgen -W '-a -B -C -F -f -i -N -R -r -t -V -v
		    -bm -bp -bi -bs -I -q -qI -qIfailed -qD -qDfailed --pretend
		    --serverinfo --store-password --help --version --' -- "$cur"))
		;;
	esac
	return 0
}

complete -F _mailhop mailhop
