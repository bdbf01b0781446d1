"""FVD with I3D Kinetics-400 features (docs/FVD.md)."""
