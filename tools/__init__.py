"""Business tools: typed functions on the shop's SQL store, with the registry that runs them safely."""
