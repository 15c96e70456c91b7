"""Re-create scenarios/calibrated/viec_calibrated.toml from scenarios/calibration/viec.toml."""
from calibration_script import main

main("viec.toml")
