"""nyc_airbnb: predict the nightly price of New York City Airbnb listings."""

__version__ = "0.1.0"
