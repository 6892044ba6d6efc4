"""The ``streamrec`` command line: one parser, subcommands registered by one module per group."""
