"""Re-create scenarios/calibrated/psva_calibrated.toml (producer_services_va against the
industrial innovation series) from scenarios/calibration/psva.toml."""
from calibration_script import main

main("psva.toml")
