"""The chat service: one customer action end to end, for every channel (page, API, widget), without a screen."""
