"""Every write of the drones app: fleet (drones, docks), missions, flights and telemetry, photos,
findings. One transaction per act; audit entries and domain events as in every app."""
