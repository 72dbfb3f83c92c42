"""Turn videos (or Roboflow results for them) into frame points in the store."""
