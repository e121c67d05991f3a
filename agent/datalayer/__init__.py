"""The chat history: tables, migrations, file storage and the SQL behind it, without Chainlit.

The chat service writes through `history.StoreHistory`; Chainlit reads and writes through
`agent.web.datalayer.SQLDataLayer`, so the users CLI and migrations run without Chainlit.
"""

from agent.datalayer.errors import DataLayerError
from agent.datalayer.migrate import migrate

__all__ = ["DataLayerError", "migrate"]
