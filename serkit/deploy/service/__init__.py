"""The pieces ``serkit.deploy.serve.create_app`` composes: config, errors, observability,
limits, routes and the stream session (one job per module)."""
