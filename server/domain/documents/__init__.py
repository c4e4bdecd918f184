"""Model documents: the websocket that syncs them, their spec over REST, and their storage."""
