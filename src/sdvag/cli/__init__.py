"""Step 5: the command line, a thin layer over sdvag.api and the steps before it."""
