"""The long-running side of backout: the watch loop that bakes releases and fires triggers."""
