"""Invitations: an admin invites an email into the organization (and a project); the invitee accepts with the token."""
