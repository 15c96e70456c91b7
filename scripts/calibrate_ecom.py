"""Re-create scenarios/calibrated/ecom_calibrated.toml from scenarios/calibration/ecom.toml."""
from calibration_script import main

main("ecom.toml")
