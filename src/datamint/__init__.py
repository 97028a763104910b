"""Datamint: medical-imaging data and annotation platform (SDK, CLI and server)."""
