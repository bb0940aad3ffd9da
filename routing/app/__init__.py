"""Django layer of routing (label ``routing``): tag values, length edges, PPM artifacts, routing runs and decisions."""
