"""Step 4: results for people and other tools: tables, files, plots, diagrams, exports."""
