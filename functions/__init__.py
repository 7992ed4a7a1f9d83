"""Lambda handlers (``functions.handlers``), the pure domain core (``functions.domain``) and the AWS
adapters with their in-memory twins (``functions.adapters``)."""
