"""The web adapter: the only package that imports Chainlit (hooks, routes, data layer binding, sign-in)."""
