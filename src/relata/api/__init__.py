"""HTTP entrypoints: thin routers that parse, call one service, and serialise."""
