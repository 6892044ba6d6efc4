"""Tools around a deployment: publish and follow, demo, stream benchmark, chaos harness."""
