"""The web app's built files, served by the server on the same origin (see ``docs/webapp.md``)."""
