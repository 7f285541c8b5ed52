"""New files that are valid from the first save: a detection (`dac new`) and a detections repository
(`dac init`)."""
