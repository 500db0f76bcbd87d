# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_keyrot_agent_global_optspecs
    string join \n fix-permissions allow-insecure-endpoint v/verbose q/quiet color= h/help V/version
end

function __fish_keyrot_agent_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_keyrot_agent_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_keyrot_agent_using_subcommand
    set -l cmd (__fish_keyrot_agent_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -s V -l version -d 'Print version'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "now" -d 'Rotate access keys now (the profile in AWS_PROFILE, else [default])'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "recover" -d 'Finish or roll back a rotation that was interrupted (crash, kill, network loss)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "undo" -d 'During the grace period: bring back the key the last rotation replaced (Active, proven, back in the file) and delete the new one'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "keyring" -d 'Keyring mode: keep a profile\'s secret in the OS keyring instead of the file'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "credential-process" -d 'Print a keyring profile\'s key as credential_process JSON (what AWS clients run; not listed in the help, documented in README, "Keyring mode")'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "run" -d 'The agent: rotate keys as they come due, until stopped (what the login item runs)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "status" -d 'Show every profile: its key, age, when it is due, and its last rotation (offline)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "config" -d 'Write or show the agent\'s configuration file'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "service" -d 'Install, remove or inspect the login item that runs the agent (systemd user service, LaunchAgent, or XDG autostart entry)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "doctor" -d 'Check everything keyrot-agent needs, change nothing, and say what to fix (exit 0 when nothing failed)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish (the packages install them)'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "man" -d 'Print the manual page (roff; the packages install it as keyrot-agent(1))'
complete -c keyrot-agent -n "__fish_keyrot_agent_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -s p -l profile -d 'Rotate this profile\'s key (repeatable). Profiles sharing the key move with it' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l verify-timeout -d 'How long to wait for IAM to accept a new key before giving up and rolling back (e.g. 60s, 2m)' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l mfa-code -d 'The current code of the profile\'s MFA device, for accounts that require MFA to manage keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the terminal' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l all -d 'Rotate every profile that holds a long-term access key and is managed by the config\'s [profiles] include/exclude (a profile named with --profile is rotated regardless)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l dry-run -d 'Show what would happen; make only read-only AWS calls (GetCallerIdentity, ListAccessKeys)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l json -d 'Print one JSON object describing what happened, instead of the summary'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l allow-root -d 'Also rotate keys of an account\'s root user'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l no-progress -d 'Never show the progress spinner'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l no-hooks -d 'Skip the profiles\' pre_rotate and post_rotate hooks for this run (the output says so)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand now" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l verify-timeout -d 'How long to wait for IAM at each step before giving up for now' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l mfa-code -d 'The current code of the profile\'s MFA device, for accounts that require MFA to manage keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the terminal' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l dry-run -d 'Say what is in flight and what recovering would do; change nothing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l json -d 'Print one JSON object describing what happened'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand recover" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -s p -l profile -d 'The profile whose last rotation to undo (profiles that shared the key go with it)' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l verify-timeout -d 'How long to wait for IAM to accept the reactivated key' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l mfa-code -d 'The current code of the profile\'s MFA device, for accounts that require MFA to manage keys (see README, "MFA"). Without it, keyrot-agent runs `mfa_process` or asks at the terminal' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l json -d 'Print one JSON object'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand undo" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -f -a "adopt" -d 'Move a profile\'s key pair into the OS keyring; the file keeps a credential_process line'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -f -a "release" -d 'Put a keyring profile\'s key pair back into the file, and out of the keyring'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and not __fish_seen_subcommand_from adopt release help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -s p -l profile -d 'The profile to adopt (repeatable); profiles sharing its key come along' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -l all -d 'Every profile that holds a long-term key'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from adopt" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -s p -l profile -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from release" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from help" -f -a "adopt" -d 'Move a profile\'s key pair into the OS keyring; the file keeps a credential_process line'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from help" -f -a "release" -d 'Put a keyring profile\'s key pair back into the file, and out of the keyring'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand keyring; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -s p -l profile -d 'The profile whose key to print' -r
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand credential-process" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -l no-notify -d 'Send no desktop notifications (the config\'s `notify = false` does the same)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand run" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l refresh -d 'Ask AWS for the keys\' creation dates (ListAccessKeys) instead of using the cache'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l json -d 'Print one JSON object'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l compliance -d 'Hold each key against CIS AWS Foundations (rotated within 90 days, one active key per user, no root key) and AWS Security Hub IAM.3, asking IAM (read-only); exit 20 unless every key passes'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand status" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -f -a "init" -d 'Write a commented default config file (KEYROT_CONFIG, else ~/.config/keyrot-agent/config.toml)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -f -a "path" -d 'Print the path of the config file keyrot-agent reads (and whether it exists)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -f -a "show" -d 'Print the resolved settings and where each came from'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and not __fish_seen_subcommand_from init path show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -l force -d 'Overwrite an existing file (your edits are lost: see --print)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -l print -d 'Print the commented default file instead of writing it, to compare with yours'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -l json -d 'Print one JSON object'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "init" -d 'Write a commented default config file (KEYROT_CONFIG, else ~/.config/keyrot-agent/config.toml)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the path of the config file keyrot-agent reads (and whether it exists)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print the resolved settings and where each came from'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "install" -d 'Write the login item for this keyrot-agent and start it'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "uninstall" -d 'Stop the agent\'s login item and remove its file'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "status" -d 'Show which login items are installed, what they start, and whether the agent runs'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and not __fish_seen_subcommand_from install uninstall status help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l kind -d 'The kind of login item (default: launchd on macOS; systemd where a systemd user session runs, else autostart)' -r -f -a "systemd\t'A systemd user unit (~/.config/systemd/user/keyrot-agent.service)'
launchd\t'A macOS LaunchAgent (~/Library/LaunchAgents/io.github.keyrot-agent.plist)'
autostart\t'An XDG autostart entry (~/.config/autostart/keyrot-agent.desktop)'"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l dry-run -d 'Print the file and where it would go; change nothing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l no-start -d 'Only write the file; do not ask systemd/launchd to start it'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l kind -d 'The kind of login item (default: every kind of this platform that is installed)' -r -f -a "systemd\t'A systemd user unit (~/.config/systemd/user/keyrot-agent.service)'
launchd\t'A macOS LaunchAgent (~/Library/LaunchAgents/io.github.keyrot-agent.plist)'
autostart\t'An XDG autostart entry (~/.config/autostart/keyrot-agent.desktop)'"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l no-start -d 'Only remove the file; do not ask systemd/launchd to stop it'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -l json -d 'Print one JSON object'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "install" -d 'Write the login item for this keyrot-agent and start it'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'Stop the agent\'s login item and remove its file'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show which login items are installed, what they start, and whether the agent runs'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand service; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -l json -d 'Print one JSON object'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -l fix -d 'First fix what is safe to fix: write the credentials file\'s setting names in lower case (the JavaScript SDK reads no other; names inside a nested block stay), with the same atomic, lossless write as a rotation'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand completions" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -l color -d 'Colour in the output: auto (when it goes to a terminal and NO_COLOR is not set), always, or never' -r -f -a "auto\t''
always\t''
never\t''"
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -l fix-permissions -d 'If others can write the credentials or config file (or their directory), make them private and go on, instead of refusing'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -l allow-insecure-endpoint -d 'Accept a plain http:// endpoint that is not on this machine (the new secret would cross the network in clear text)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -s v -l verbose -d 'Show keyrot-agent\'s own log lines (-v: what it does, -vv: details); the HTTP stack\'s stay out. KEYROT_LOG, when set, wins'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -s q -l quiet -d 'Print nothing but errors'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand man" -s h -l help -d 'Print help'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "now" -d 'Rotate access keys now (the profile in AWS_PROFILE, else [default])'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "recover" -d 'Finish or roll back a rotation that was interrupted (crash, kill, network loss)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "undo" -d 'During the grace period: bring back the key the last rotation replaced (Active, proven, back in the file) and delete the new one'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "keyring" -d 'Keyring mode: keep a profile\'s secret in the OS keyring instead of the file'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "credential-process" -d 'Print a keyring profile\'s key as credential_process JSON (what AWS clients run; not listed in the help, documented in README, "Keyring mode")'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "run" -d 'The agent: rotate keys as they come due, until stopped (what the login item runs)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "status" -d 'Show every profile: its key, age, when it is due, and its last rotation (offline)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "config" -d 'Write or show the agent\'s configuration file'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "service" -d 'Install, remove or inspect the login item that runs the agent (systemd user service, LaunchAgent, or XDG autostart entry)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "doctor" -d 'Check everything keyrot-agent needs, change nothing, and say what to fix (exit 0 when nothing failed)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish (the packages install them)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "man" -d 'Print the manual page (roff; the packages install it as keyrot-agent(1))'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and not __fish_seen_subcommand_from now recover undo keyring credential-process run status config service doctor completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from keyring" -f -a "adopt" -d 'Move a profile\'s key pair into the OS keyring; the file keeps a credential_process line'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from keyring" -f -a "release" -d 'Put a keyring profile\'s key pair back into the file, and out of the keyring'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "init" -d 'Write a commented default config file (KEYROT_CONFIG, else ~/.config/keyrot-agent/config.toml)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "path" -d 'Print the path of the config file keyrot-agent reads (and whether it exists)'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "show" -d 'Print the resolved settings and where each came from'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "install" -d 'Write the login item for this keyrot-agent and start it'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "uninstall" -d 'Stop the agent\'s login item and remove its file'
complete -c keyrot-agent -n "__fish_keyrot_agent_using_subcommand help; and __fish_seen_subcommand_from service" -f -a "status" -d 'Show which login items are installed, what they start, and whether the agent runs'
