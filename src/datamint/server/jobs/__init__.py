"""Background jobs: the one runtime for long work (dataset versions now; deploys, inference,
exports and imports next). See ``docs/jobs.md``."""
