"""Example CDK apps that embed the ``Forescale`` construct."""
