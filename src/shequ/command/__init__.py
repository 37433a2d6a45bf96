"""Instructions (指令) from the command center to departments, units and people."""
