"""Forecasting: Nixtla-style long frames in, quantile forecasts out (see ``models.api``)."""
