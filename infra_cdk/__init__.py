"""The CDK app: stateful and stateless stacks and the embeddable ``Forescale`` construct."""
