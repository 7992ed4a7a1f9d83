"""Lambda handlers (``functions.handlers``), services (``functions.services``), the pure domain core
(``functions.domain``), the ports the services use (``functions.ports``) and the AWS adapters that
implement them (``functions.adapters``). Only this, ``events`` and ``models`` ship to Lambda: the tools (the
``forescale`` command, the local router, the in-memory twins) are ``forescale_tools``."""
