"""Reproducible Lambda layers for forescale (see ``layers/README.md``; build with ``python -m layers.build``)."""
