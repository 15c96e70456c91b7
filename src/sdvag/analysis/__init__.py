"""Step 3: what runs mean: stages, checks, calibration, sensitivity."""

# The checks `sdvag check` runs, in order (here so that the command line can list them without
# importing the checks, and PySD with them).
CHECKS = ("support", "schema", "structure", "diagram", "documentation", "units", "extreme",
          "integration", "engine")
