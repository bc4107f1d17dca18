"""The model against measurements: predict published rows from the spec files, and fit the few
efficiencies per hardware family that the rows determine."""
