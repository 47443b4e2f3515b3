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
        # A quoted name may hold spaces: account "my home" {
        string replace -rf '^\s*account\s+(?:"([^"]+)"|\'([^\']+)\'|([^"\'{\s]+)).*' '$1$2$3' <$f
    end | sort -u
end

complete -c mailhop -f
complete -c mailhop -s a -x -a '(__mailhop_accounts)' -d 'Use this account'
complete -c mailhop -l pretend -d 'Show the account chosen, its settings and the envelope; send nothing'
complete -c mailhop -l serverinfo -d 'Show the server: capabilities, TLS, certificates, tls_pin advice'
complete -c mailhop -l help -d 'Show a summary of the usage'
complete -c mailhop -l version -d 'Show the version'
complete -c mailhop -s C -r -F -d 'Read only this configuration file'
complete -c mailhop -s f -x -d 'Envelope sender'
complete -c mailhop -s r -x -d 'Envelope sender (old name of -f)'
complete -c mailhop -s F -x -d 'Full name for an added From field'
complete -c mailhop -s B -x -a '7BIT 8BITMIME' -d 'Declared body type'
complete -c mailhop -s N -x -a 'never success failure delay failure,delay success,failure,delay' -d 'Delivery status notifications'
complete -c mailhop -s R -x -a 'full hdrs' -d 'What a failure report returns'
complete -c mailhop -s V -x -d 'Envelope id for delivery reports'
complete -c mailhop -s b -x -a 'm p i s' -d 'Mode: m send, p list the queue, i check the aliases, s SMTP on stdin'
complete -c mailhop -s I -d 'Check the aliases file (as newaliases)'
complete -c mailhop -s q -d 'Flush the queue'
complete -c mailhop -o qI -d 'Send every queued message now'
complete -c mailhop -o qIfailed -d 'Put the failed messages back in the queue and send them'
complete -c mailhop -o qDfailed -d 'Delete the failed area of the queue'
complete -c mailhop -s i -d 'Accepted for compatibility'
complete -c mailhop -s t -d 'Also take recipients from To, Cc and Bcc'
complete -c mailhop -s v -d 'Print the SMTP conversation to standard error'
complete -c mailhop -l store-password -x -a '(__mailhop_accounts)' -d 'Ask for the password of an account and keep it in the keyring'
