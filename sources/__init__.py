"""Sources that keep themselves current: connectors (web, WebDAV, IMAP, git, Slack, folder)
and the sync that turns what changed at a source into documents of one collection."""
