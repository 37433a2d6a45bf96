"""Units on duty: grid workers' and squads' status and last known positions."""
