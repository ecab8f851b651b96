"""The live loop and what it runs on."""
