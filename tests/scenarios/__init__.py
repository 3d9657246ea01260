"""The scenario tests: real services under realistic, varying conditions."""
