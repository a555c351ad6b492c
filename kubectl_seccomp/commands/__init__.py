"""One module per ``kubectl seccomp`` subcommand: parse options, call the core, print."""
