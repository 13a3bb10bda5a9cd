# databusctl.bash — bash completion for databusctl (docs/cli.md).
#
# Installed as /usr/share/bash-completion/completions/databusctl. It knows
# the verbs, the options each verb takes (the same table as
# ctl/ctl_args.c; tests/system/test_completion.py compares the two through
# `databusctl --help`) and the values of --state, --role and `queue set`;
# --data completes directories, export and backup files. It needs nothing
# from the bash-completion package.

_databusctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=""
	local -a words=()
	local i w verb="" opts="" skip=0

	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	COMPREPLY=()

	# The words before the cursor, without options and their values.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if ((skip)); then
			skip=0
			continue
		fi
		case $w in
		--data | --socket | --client | --passenger | --state | --limit | \
			--cursor | --q | --older-than | --role | --sample | --push)
			skip=1 ;;
		-*) ;;
		*) words+=("$w") ;;
		esac
	done

	case $prev in
	--data)
		COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--state)
		COMPREPLY=($(compgen -W "pending done dead" -- "$cur"))
		return ;;
	--role)
		COMPREPLY=($(compgen -W "operator administrator" -- "$cur"))
		return ;;
	--to)
		COMPREPLY=($(compgen -W "lmdb postgres://" -- "$cur"))
		return ;;
	--sample)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--socket | --client | --passenger | --limit | --cursor | --q | \
		--older-than | --push | --schema)
		return ;; # a value only the user knows
	esac

	case ${words[0]-} in
	queue | logs | user) verb="${words[0]} ${words[1]-}" ;;
	*) verb=${words[0]-} ;;
	esac
	case $verb in
	"queue ls")
		opts="--client --passenger --state --limit --cursor --oldest --q" ;;
	"queue purge") opts="--client --passenger --older-than" ;;
	"logs ls") opts="--client --limit --cursor" ;;
	"logs purge") opts="--client --older-than" ;;
	"user add") opts="--role --password-stdin" ;;
	"user passwd") opts="--password-stdin" ;;
	export) opts="--client --schema" ;;
	import) opts="--client --dry-run --schema" ;;
	dry-run) opts="--passenger --sample --push" ;;
	migrate) opts="--to --schema" ;;
	esac

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --data --socket --json --help" \
			-- "$cur"))
		return
	fi
	case ${#words[@]} in
	0)
		COMPREPLY=($(compgen -W "status workers pause resume shutdown
			reload expedite peek history dry-run queue logs user export
			import verify backup restore compact migrate help" -- "$cur"))
		return ;;
	1)
		case ${words[0]} in
		queue)
			COMPREPLY=($(compgen -W "ls show set requeue purge" \
				-- "$cur")) ;;
		logs) COMPREPLY=($(compgen -W "ls show purge" -- "$cur")) ;;
		user)
			COMPREPLY=($(compgen -W "ls add passwd role rm revoke" \
				-- "$cur")) ;;
		export | backup | import | restore)
			COMPREPLY=($(compgen -f -- "$cur")) ;;
		esac
		return ;;
	esac
	# queue set CLIENT ID STEP complete|incomplete;
	# user role CLIENT USER operator|administrator
	if [[ $verb == "queue set" && ${#words[@]} -eq 5 ]]; then
		COMPREPLY=($(compgen -W "complete incomplete" -- "$cur"))
	elif [[ $verb == "user role" && ${#words[@]} -eq 4 ]]; then
		COMPREPLY=($(compgen -W "operator administrator" -- "$cur"))
	fi
}
complete -F _databusctl databusctl
