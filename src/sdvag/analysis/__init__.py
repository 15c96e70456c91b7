"""Step 3: what runs mean: stages, checks, calibration, sensitivity."""
