"""The live feed: domain events pushed to command-center screens over server-sent events."""
