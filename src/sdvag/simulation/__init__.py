"""Step 2: scenarios, and the engines that run them (PySD per run; ensembles of many runs)."""
