"""Upload plumbing of ``api.resources`` (private): :mod:`.prepare` turns the caller's inputs
(paths, file objects, pydicom datasets, folders) into upload units (sniffed, validated,
anonymized, assembled); :mod:`.send` sends them concurrently and collects the results."""
