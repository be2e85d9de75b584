"""The example app deployed by default and run by the demo."""
