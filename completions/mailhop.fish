# fish completion for mailhop(1)
# SPDX-License-Identifier: ISC

# Account names from the configuration files: the -C file when one is on
# the command line, else the user's file and the system's file.
function __mailhop_accounts
    set -l conf
    set -l tokens (commandline -opc)
    for i in (seq 2 (count $tokens))
        switch $tokens[$i]
            case --
                break
            case -C
                set -l next (math $i + 1)
                if test $next -le (count $tokens)
                    set conf $tokens[$next]
                end
            case '-C?*'
                set conf (string sub -s 3 -- $tokens[$i])
        end
    end

    set -l files
    if test -n "$conf"
        set files (string replace -r '^~/' "$HOME/" -- $conf)
    else
        set -l dir $XDG_CONFIG_HOME
        test -n "$dir"; or set dir $HOME/.config
        set files $dir/mailhop/config /etc/mailhop.conf
    end
    for f in $files
        test -r $f; or continue
        string replace -rf '^\s*account\s+["\']?([^"\'{\s]+).*' '$1' <$f
    end | sort -u
end

complete -c mailhop -f
complete -c mailhop -s a -x -a '(__mailhop_accounts)' -d 'Use this account'
complete -c mailhop -s C -r -F -d 'Read only this configuration file'
complete -c mailhop -s f -x -d 'Envelope sender'
complete -c mailhop -s i -d 'Accepted for compatibility'
complete -c mailhop -s t -d 'Also take recipients from To, Cc and Bcc'
complete -c mailhop -s v -d 'Print the SMTP conversation to standard error'
