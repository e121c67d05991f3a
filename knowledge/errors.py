"""One exception root for the knowledge package."""


class KnowledgeError(Exception):
    """Root of every error raised by `knowledge`."""


class KnowledgeConfigError(KnowledgeError):
    """A developer or deployment mistake: missing model files, bad paths."""


class KnowledgeUnavailable(KnowledgeError):
    """The vector store or the embedder failed at run time."""


class ConversionError(KnowledgeError):
    """A file that cannot be ingested: empty, damaged, encrypted, unsupported or too large.

    Its message says why, in words fit for the person who supplied the file.
    """
