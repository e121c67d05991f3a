"""Our Chainlit data layer: tables, migrations, file storage and the SQL behind chat history.

Import `SQLDataLayer` from `agent.web.datalayer`; it is the only module here that
imports Chainlit, so the users CLI and migrations run without it.
"""

from agent.datalayer.errors import DataLayerError
from agent.datalayer.migrate import migrate

__all__ = ["DataLayerError", "migrate"]
