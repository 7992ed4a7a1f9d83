"""Lambda handlers (``functions.handlers``), services (``functions.services``), the pure domain core
(``functions.domain``), the ports the services use (``functions.ports``) and the AWS adapters that
implement them, with their in-memory twins (``functions.adapters``)."""
